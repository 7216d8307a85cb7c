/**
 * Says what a file that is not a TIFF looks like, from its first bytes, so the error tells the user what
 * they actually uploaded ("is a PNG image") instead of only what it is not.
 */
const SIGNATURES: Array<{ bytes: number[]; at?: number; what: string }> = [
  { bytes: [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a], what: 'a PNG image' },
  { bytes: [0xff, 0xd8, 0xff], what: 'a JPEG image' },
  { bytes: [0x47, 0x49, 0x46, 0x38], what: 'a GIF image' },
  { bytes: [0x42, 0x4d], what: 'a BMP image' },
  { bytes: [0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20], what: 'a JPEG 2000 image' },
  { bytes: [0x52, 0x49, 0x46, 0x46], what: 'a RIFF file (WebP image or similar)' },
  { bytes: [0x25, 0x50, 0x44, 0x46], what: 'a PDF document' },
  { bytes: [0x50, 0x4b, 0x03, 0x04], what: 'a ZIP archive (or .npz / .docx / .xlsx)' },
  { bytes: [0x1f, 0x8b], what: 'a gzip-compressed file' },
  { bytes: [0x28, 0xb5, 0x2f, 0xfd], what: 'a Zstandard-compressed file' },
  { bytes: [0x42, 0x5a, 0x68], what: 'a bzip2-compressed file' },
  { bytes: [0xfd, 0x37, 0x7a, 0x58, 0x5a, 0x00], what: 'an xz-compressed file' },
  { bytes: [0x89, 0x48, 0x44, 0x46, 0x0d, 0x0a, 0x1a, 0x0a], what: 'an HDF5 file' },
  { bytes: [0x93, 0x4e, 0x55, 0x4d, 0x50, 0x59], what: 'a NumPy .npy array' },
  { bytes: [0x5a, 0x49, 0x53, 0x52, 0x41, 0x57, 0x46, 0x49, 0x4c, 0x45], what: 'a Zeiss CZI file' },
  { bytes: [0x4e, 0x49, 0x46, 0x54], what: 'a NIfTI file' },
  { bytes: [0x6e, 0x2b, 0x31, 0x00], at: 344, what: 'a NIfTI file' },
  { bytes: [0x7f, 0x45, 0x4c, 0x46], what: 'an executable (ELF)' },
];

function matches(head: Buffer, bytes: number[], at = 0): boolean {
  if (head.length < at + bytes.length) return false;
  return bytes.every((b, i) => head[at + i] === b);
}

/** "is a PNG image", "is a text file starting with '...'", or "starts with bytes 00 11 ..."; never mentions TIFF. */
export function describeNonTiff(head: Buffer): string {
  for (const sig of SIGNATURES) if (matches(head, sig.bytes, sig.at)) return `is ${sig.what}`;
  const sample = head.subarray(0, Math.min(head.length, 512));
  const text = sample.toString('utf8');
  // Printable UTF-8 (allowing tabs and newlines) reads as text: HTML error pages, CSV, JSON, ...
  if (sample.length > 0 && !text.includes('\uFFFD') && !/[\x00-\x08\x0e-\x1f\x7f]/.test(text)) {
    const trimmed = text.trimStart();
    if (/^<!doctype html|^<html/i.test(trimmed)) return 'is an HTML page';
    if (trimmed.startsWith('<?xml') || trimmed.startsWith('<')) return 'is an XML/text document';
    const firstLine = trimmed.split(/\r?\n/, 1)[0] ?? '';
    const shown = firstLine.length > 40 ? `${firstLine.slice(0, 40)}...` : firstLine;
    return `is a text file starting with ${JSON.stringify(shown)}`;
  }
  const hex = [...head.subarray(0, 8)].map((b) => b.toString(16).padStart(2, '0')).join(' ');
  return `starts with bytes ${hex}`;
}
