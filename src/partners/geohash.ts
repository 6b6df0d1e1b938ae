/**
 * Geohash encoding and cell neighbours: the key the proximity index is built on. Written out (about 50 lines)
 * rather than taken from npm because the maintained options are unmaintained since 2019 and the algorithm is fixed.
 */
const BASE32 = '0123456789bcdefghjkmnpqrstuvwxyz';

export function encodeGeohash(latitude: number, longitude: number, precision = 9): string {
  let latMin = -90,
    latMax = 90,
    lonMin = -180,
    lonMax = 180;
  let hash = '';
  let bits = 0,
    bitCount = 0,
    evenBit = true;
  while (hash.length < precision) {
    if (evenBit) {
      const mid = (lonMin + lonMax) / 2;
      if (longitude >= mid) {
        bits = bits * 2 + 1;
        lonMin = mid;
      } else {
        bits *= 2;
        lonMax = mid;
      }
    } else {
      const mid = (latMin + latMax) / 2;
      if (latitude >= mid) {
        bits = bits * 2 + 1;
        latMin = mid;
      } else {
        bits *= 2;
        latMax = mid;
      }
    }
    evenBit = !evenBit;
    if (++bitCount === 5) {
      hash += BASE32[bits];
      bits = 0;
      bitCount = 0;
    }
  }
  return hash;
}

export interface Bounds {
  latMin: number;
  latMax: number;
  lonMin: number;
  lonMax: number;
}

export function geohashBounds(hash: string): Bounds {
  let latMin = -90,
    latMax = 90,
    lonMin = -180,
    lonMax = 180;
  let evenBit = true;
  for (const char of hash) {
    const index = BASE32.indexOf(char);
    if (index < 0) throw new Error(`Invalid geohash character "${char}"`);
    for (let bit = 4; bit >= 0; bit--) {
      const on = (index >> bit) & 1;
      if (evenBit) {
        const mid = (lonMin + lonMax) / 2;
        if (on) lonMin = mid;
        else lonMax = mid;
      } else {
        const mid = (latMin + latMax) / 2;
        if (on) latMin = mid;
        else latMax = mid;
      }
      evenBit = !evenBit;
    }
  }
  return { latMin, latMax, lonMin, lonMax };
}

/** The cell itself and its eight neighbours (fewer at the poles), at the cell's own precision. */
export function geohashWithNeighbours(hash: string): string[] {
  const b = geohashBounds(hash);
  const dLat = b.latMax - b.latMin;
  const dLon = b.lonMax - b.lonMin;
  const centreLat = (b.latMin + b.latMax) / 2;
  const centreLon = (b.lonMin + b.lonMax) / 2;
  const cells = new Set<string>();
  for (const i of [-1, 0, 1]) {
    for (const j of [-1, 0, 1]) {
      const lat = centreLat + i * dLat;
      if (lat > 90 || lat < -90) continue;
      const lon = ((centreLon + j * dLon + 540) % 360) - 180;
      cells.add(encodeGeohash(lat, lon, hash.length));
    }
  }
  return [...cells];
}

/** Great-circle distance in kilometres. */
export function distanceKm(lat1: number, lon1: number, lat2: number, lon2: number): number {
  const rad = Math.PI / 180;
  const dLat = (lat2 - lat1) * rad;
  const dLon = (lon2 - lon1) * rad;
  const a = Math.sin(dLat / 2) ** 2 + Math.cos(lat1 * rad) * Math.cos(lat2 * rad) * Math.sin(dLon / 2) ** 2;
  return 2 * 6371 * Math.asin(Math.min(1, Math.sqrt(a)));
}

// Cell sizes in km per precision 1..6 at the equator (width shrinks with cos(latitude)).
const CELL_WIDTH_KM = [5000, 1250, 156, 39.1, 4.89, 1.22];
const CELL_HEIGHT_KM = [5000, 625, 156, 19.5, 4.89, 0.61];

/** The largest radius the proximity query accepts: one precision-3 cell plus its neighbours must cover it. */
export const MAX_RADIUS_KM = 100;

/**
 * The finest precision (3..6) whose cells are at least `radiusKm` in both directions at this latitude, so a cell
 * plus its eight neighbours covers the whole circle. Precision 3 is the coarsest because the index partitions on it.
 */
export function precisionForRadius(radiusKm: number, latitude: number): number {
  const shrink = Math.max(Math.cos((Math.abs(latitude) * Math.PI) / 180), 0.01);
  let precision = 3;
  for (let p = 3; p <= 6; p++) {
    const smallest = Math.min(CELL_WIDTH_KM[p - 1] * shrink, CELL_HEIGHT_KM[p - 1]);
    if (smallest >= radiusKm) precision = p;
  }
  return precision;
}
