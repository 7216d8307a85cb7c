import ij.IJ;
import ij.ImagePlus;
import ij.ImageStack;
import ij.measure.Calibration;

import java.io.FileOutputStream;
import java.io.OutputStreamWriter;
import java.io.Writer;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.charset.StandardCharsets;
import java.util.Base64;

/**
 * Opens TIFF files with real ImageJ (IJ.openImage, what File > Open does for a .tif) and writes what ImageJ
 * sees as JSON: `java -Djava.awt.headless=true -cp ij.jar ImageJRead.java out.json a.tif b.tif ...`.
 * One JSON object per input: version, width, height, bitDepth, stackSize, nChannels, nSlices, nFrames,
 * hyperstack, pixelWidth, pixelHeight, unit, displayMin/Max, and every slice's pixels as base64 little-endian
 * (unsigned 8/16-bit or float32), or {"path", "error"} when ImageJ cannot open the file.
 * Results go to a file, not stdout, because ImageJ may print messages there.
 */
public class ImageJRead {
  public static void main(String[] args) throws Exception {
    StringBuilder out = new StringBuilder("[");
    for (int i = 1; i < args.length; i++) {
      if (i > 1) out.append(",\n");
      out.append(describe(args[i]));
    }
    out.append("]\n");
    try (Writer w = new OutputStreamWriter(new FileOutputStream(args[0]), StandardCharsets.UTF_8)) {
      w.write(out.toString());
    }
    System.exit(0);
  }

  static String describe(String path) {
    ImagePlus imp = IJ.openImage(path);
    if (imp == null) return "{\"path\":" + str(path) + ",\"error\":\"ImageJ could not open the file\"}";
    ImageStack stack = imp.getStack();
    Calibration cal = imp.getCalibration();
    StringBuilder sb = new StringBuilder("{");
    sb.append("\"path\":").append(str(path));
    sb.append(",\"version\":").append(str(IJ.getVersion()));
    sb.append(",\"width\":").append(imp.getWidth());
    sb.append(",\"height\":").append(imp.getHeight());
    sb.append(",\"bitDepth\":").append(imp.getBitDepth());
    sb.append(",\"stackSize\":").append(imp.getStackSize());
    sb.append(",\"nChannels\":").append(imp.getNChannels());
    sb.append(",\"nSlices\":").append(imp.getNSlices());
    sb.append(",\"nFrames\":").append(imp.getNFrames());
    sb.append(",\"hyperstack\":").append(imp.isHyperStack());
    sb.append(",\"pixelWidth\":").append(num(cal.pixelWidth));
    sb.append(",\"pixelHeight\":").append(num(cal.pixelHeight));
    sb.append(",\"unit\":").append(str(cal.getUnit()));
    sb.append(",\"displayMin\":").append(num(imp.getDisplayRangeMin()));
    sb.append(",\"displayMax\":").append(num(imp.getDisplayRangeMax()));
    sb.append(",\"slices\":[");
    for (int s = 1; s <= stack.getSize(); s++) {
      if (s > 1) sb.append(',');
      sb.append('"').append(Base64.getEncoder().encodeToString(littleEndian(stack.getPixels(s)))).append('"');
    }
    sb.append("]}");
    imp.close();
    return sb.toString();
  }

  static byte[] littleEndian(Object pixels) {
    if (pixels instanceof byte[]) return (byte[]) pixels;
    if (pixels instanceof short[]) {
      short[] p = (short[]) pixels;
      ByteBuffer b = ByteBuffer.allocate(2 * p.length).order(ByteOrder.LITTLE_ENDIAN);
      b.asShortBuffer().put(p);
      return b.array();
    }
    if (pixels instanceof float[]) {
      float[] p = (float[]) pixels;
      ByteBuffer b = ByteBuffer.allocate(4 * p.length).order(ByteOrder.LITTLE_ENDIAN);
      for (float v : p) b.putInt(Float.floatToRawIntBits(v));
      return b.array();
    }
    throw new IllegalArgumentException("unexpected pixel array " + pixels.getClass());
  }

  static String num(double v) {
    return Double.isFinite(v) ? Double.toString(v) : "null";
  }

  static String str(String s) {
    StringBuilder sb = new StringBuilder("\"");
    for (char c : s.toCharArray()) {
      if (c == '"' || c == '\\') sb.append('\\').append(c);
      else if (c < 0x20 || c > 0x7e) sb.append(String.format("\\u%04x", (int) c));
      else sb.append(c);
    }
    return sb.append('"').toString();
  }
}
