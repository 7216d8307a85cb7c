"""Independent TIFF reader/writer for the @pssr/tiff tests, built on tifffile (Debian python3-tifffile).

Reads JSON {"cmd": "write"|"read", "items": [...]} on stdin and prints a JSON list, one result per item.

write item: {"path", "shape", "dtype", "seed", "kwargs": {...imwrite keyword arguments},
             "compression_codec": "lzw"|"packbits" (our own encoders, registered because
             tifffile needs imagecodecs for them), "append": [{"shape", "dtype", "kwargs"}]}
  -> {"data": base64 of the written array (little-endian, C order), "shape", "dtype"}
read item: {"path"} -> tifffile's view: shape, dtype, axes, pages, is_bigtiff, is_imagej,
             imagej_metadata, compression, resolution, resolution_unit, software, sample_format,
             description, data (base64 little-endian of series 0)
"""
import base64
import json
import sys

import numpy as np
import tifffile


def lzw_encode(data, **_):
    """TIFF LZW (MSB-first, early change), as libtiff writes it."""
    raw = np.ascontiguousarray(data).tobytes() if not isinstance(data, (bytes, bytearray)) else bytes(data)
    out = bytearray()
    acc = 0
    nacc = 0

    def emit(code, width):
        nonlocal acc, nacc
        acc = (acc << width) | code
        nacc += width
        while nacc >= 8:
            nacc -= 8
            out.append((acc >> nacc) & 0xFF)
        acc &= (1 << nacc) - 1

    clear, eoi = 256, 257
    table = {bytes([i]): i for i in range(256)}
    next_code, width = 258, 9
    emit(clear, width)
    if not raw:
        emit(eoi, width)
    else:
        w = raw[:1]
        for byte in raw[1:]:
            wc = w + bytes([byte])
            if wc in table:
                w = wc
                continue
            emit(table[w], width)
            table[wc] = next_code
            next_code += 1
            if next_code >= (1 << width):
                width += 1
            if next_code >= 4000:
                emit(clear, width)
                table = {bytes([i]): i for i in range(256)}
                next_code, width = 258, 9
            w = bytes([byte])
        emit(table[w], width)
        if next_code + 1 >= (1 << width):
            width += 1
        emit(eoi, width)
    if nacc:
        out.append((acc << (8 - nacc)) & 0xFF)
    return bytes(out)


def packbits_encode(data, axis=None, **_):
    raw = np.ascontiguousarray(data).tobytes() if not isinstance(data, (bytes, bytearray)) else bytes(data)
    out = bytearray()
    i, n = 0, len(raw)
    while i < n:
        j = i + 1
        while j < n and raw[j] == raw[i] and j - i < 128:
            j += 1
        if j - i >= 2:
            out.append((257 - (j - i)) & 0xFF)
            out.append(raw[i])
            i = j
            continue
        start = i
        i += 1
        while i < n and i - start < 128 and not (i + 1 < n and raw[i] == raw[i + 1]):
            i += 1
        out.append(i - start - 1)
        out += raw[start:i]
    return bytes(out)


def make_array(shape, dtype, seed):
    rng = np.random.default_rng(seed)
    dt = np.dtype(dtype)
    if dt.kind == 'f':
        return (rng.standard_normal(shape) * 100).astype(dt)
    if dt.kind == 'b':
        return rng.integers(0, 2, shape).astype(bool)
    if dt.kind == 'c':
        return (rng.standard_normal(shape) + 1j * rng.standard_normal(shape)).astype(dt)
    info = np.iinfo(dt)
    return rng.integers(info.min, info.max, shape, endpoint=True).astype(dt)


def jsonable(value):
    if isinstance(value, dict):
        return {str(k): jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [jsonable(v) for v in value]
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, (int, float, str, bool)) or value is None:
        return value
    return str(value)


def encode(arr):
    le = arr.astype(arr.dtype.newbyteorder('<'), copy=False)
    return base64.b64encode(np.ascontiguousarray(le).tobytes()).decode()


def write(item):
    codec = item.get('compression_codec')
    if codec == 'lzw':
        tifffile.TIFF.COMPRESSORS._codecs[5] = lzw_encode
    elif codec == 'packbits':
        tifffile.TIFF.COMPRESSORS._codecs[32773] = packbits_encode
    arr = make_array(item['shape'], item['dtype'], item.get('seed', 0))
    tifffile.imwrite(item['path'], arr, **item.get('kwargs', {}))
    for extra in item.get('append', []):
        more = make_array(extra['shape'], extra['dtype'], extra.get('seed', 1))
        tifffile.imwrite(item['path'], more, append=True, **extra.get('kwargs', {}))
    return {'data': encode(arr), 'shape': list(arr.shape), 'dtype': str(arr.dtype)}


def read(item):
    with tifffile.TiffFile(item['path']) as tif:
        page = tif.pages[0]
        series = tif.series[0]
        arr = series.asarray()
        tags = page.tags
        res = {}
        for name in ('XResolution', 'YResolution'):
            if name in tags:
                res[name] = list(tags[name].value)
        return {
            'shape': list(arr.shape),
            'dtype': str(arr.dtype),
            'axes': series.axes,
            'pages': len(tif.pages),
            'is_bigtiff': tif.is_bigtiff,
            'byteorder': tif.byteorder,
            'is_imagej': tif.is_imagej,
            'imagej_metadata': jsonable(tif.imagej_metadata) if tif.is_imagej else None,
            'compression': int(page.compression),
            'resolution': res,
            'resolution_unit': int(tags['ResolutionUnit'].value) if 'ResolutionUnit' in tags else None,
            'software': page.software,
            'sample_format': int(page.sampleformat),
            'description': page.description,
            'page_compressions': sorted({int(p.compression) for p in tif.pages}),
            'data': encode(arr),
        }


def main():
    request = json.load(sys.stdin)
    handler = {'write': write, 'read': read}[request['cmd']]
    results = []
    for item in request['items']:
        try:
            results.append(handler(item))
        except Exception as exc:  # reported per item so one bad file does not hide the others
            results.append({'error': f'{type(exc).__name__}: {exc}'})
    json.dump(results, sys.stdout)


if __name__ == '__main__':
    main()
