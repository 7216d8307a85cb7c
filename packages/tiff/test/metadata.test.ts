import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { axisFromAxes, normalizeUnit, parseDescription, parseImageJ, parseOme } from '../src/metadata.js';
import { imagejDescription } from '@pssr/tiff';

describe('stack metadata parsing', () => {
  it('reads ImageJ hyperstack keys and decodes Java escapes in the unit', () => {
    const meta = parseImageJ('ImageJ=1.53c\nimages=30\nchannels=3\nframes=10\nunit=\\u00B5m\nspacing=0.25\nloop=false\n');
    assert.deepEqual(meta, { kind: 'imagej', images: 30, channels: 3, frames: 10, unit: 'µm', spacing: 0.25 });
    assert.equal(parseImageJ('{"shape": [2, 3]}'), undefined);
  });

  it('reads the first Pixels element of namespaced OME-XML with entities and TiffData', () => {
    const xml =
      '<?xml version="1.0"?><ome:OME xmlns:ome="http://www.openmicroscopy.org/Schemas/OME/2016-06">' +
      '<ome:Image ID="Image:0"><ome:Pixels DimensionOrder="XYZTC" SizeX="64" SizeY="32" SizeZ="1" SizeT="7" SizeC="2" ' +
      "PhysicalSizeX='0.065' PhysicalSizeXUnit=\"&#181;m\" PhysicalSizeY=\"0.07\" Type=\"uint16\">" +
      '<ome:TiffData IFD="4" PlaneCount="14"/></ome:Pixels></ome:Image>' +
      '<ome:Image ID="Image:1"><ome:Pixels SizeX="8" SizeY="8" SizeT="99"/></ome:Image></ome:OME>';
    assert.deepEqual(parseOme(xml), {
      kind: 'ome',
      sizeC: 2,
      sizeZ: 1,
      sizeT: 7,
      sizeX: 64,
      sizeY: 32,
      dimensionOrder: 'XYZTC',
      physicalSizeX: 0.065,
      physicalSizeY: 0.07,
      physicalSizeXUnit: 'µm',
      firstIfd: 4,
    });
  });

  it('recognises tifffile shaped descriptions and ignores free text', () => {
    assert.deepEqual(parseDescription('{"shape": [5, 3, 4], "axes": "zyx"}'), { kind: 'shaped', axes: 'ZYX' });
    assert.equal(parseDescription('Acquired on a Zeiss LSM 880'), undefined);
    assert.equal(parseDescription(undefined), undefined);
    assert.equal(axisFromAxes('ZYX'), 'Z');
    assert.equal(axisFromAxes('TZYX'), 'T');
    assert.equal(axisFromAxes(undefined), 'T');
  });

  it('normalises unit spellings and drops "no unit"', () => {
    for (const u of ['um', 'µm', 'μm', 'micron', 'Microns', '\\u00B5m', ' micrometre ']) assert.equal(normalizeUnit(u), 'um', u);
    assert.equal(normalizeUnit('nanometer'), 'nm');
    assert.equal(normalizeUnit('pixel'), undefined);
    assert.equal(normalizeUnit(''), undefined);
    assert.equal(normalizeUnit('inch'), 'inch');
  });

  it('writes ImageJ descriptions that its own parser reads back', () => {
    const text = imagejDescription({ frames: 12, height: 4, width: 4, dtype: 'float32', axis: 'Z', pixelSize: { x: 1, y: 1, unit: 'µm' } }, { min: -1.5, max: 2 });
    assert.equal(text, 'ImageJ=1.11a\nimages=12\nslices=12\nhyperstack=true\nmode=grayscale\nunit=\\u00b5m\nmin=-1.5\nmax=2\n');
    assert.deepEqual(parseImageJ(text), { kind: 'imagej', images: 12, slices: 12, unit: 'µm' });
  });
});
