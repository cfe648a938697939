/**
 * Byte-level building blocks of the wire format: unsigned LEB128 varints for whole numbers up to 2^53,
 * zig-zag for signed ones, length-prefixed UTF-8 strings, little-endian floats.
 */
import { WireFormatError } from "../errors";

const utf8 = new TextEncoder();
const utf8Strict = new TextDecoder("utf-8", { fatal: true });

/** Number of bytes the varint of `n` (a whole number from 0 to 2^53 - 1) takes. */
export function varintSize(n: number): number {
  let size = 1;
  while (n >= 128) {
    n = Math.floor(n / 128);
    size++;
  }
  return size;
}

/** Zig-zag mapping of a signed whole number to an unsigned one: 0, -1, 1, -2, ... -> 0, 1, 2, 3, ... */
export function zigzag(n: number): number {
  return n >= 0 ? n * 2 : -n * 2 - 1;
}

/** Inverse of {@link zigzag}. */
export function unzigzag(n: number): number {
  return n % 2 === 0 ? n / 2 : -(n + 1) / 2;
}

/** Bytes of a UTF-8 string as the wire format stores it: varint length, then the bytes. */
export function stringSize(s: string): number {
  const n = Buffer.byteLength(s, "utf8");
  return varintSize(n) + n;
}

/** A growable byte buffer. */
export class ByteWriter {
  private buf: Uint8Array;
  private view: DataView;
  private pos = 0;

  constructor(initialSize = 1024) {
    this.buf = new Uint8Array(initialSize);
    this.view = new DataView(this.buf.buffer);
  }

  private ensure(extra: number): void {
    if (this.pos + extra <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.pos + extra) size *= 2;
    const next = new Uint8Array(size);
    next.set(this.buf.subarray(0, this.pos));
    this.buf = next;
    this.view = new DataView(next.buffer);
  }

  byte(b: number): void {
    this.ensure(1);
    this.buf[this.pos++] = b;
  }

  bytes(b: Uint8Array): void {
    this.ensure(b.length);
    this.buf.set(b, this.pos);
    this.pos += b.length;
  }

  /** A whole number from 0 to 2^53 - 1. */
  varint(n: number): void {
    if (!Number.isSafeInteger(n) || n < 0) throw new WireFormatError(`cannot write ${n} as a varint: not a whole number from 0 to 2^53-1`);
    this.ensure(8);
    while (n >= 128) {
      this.buf[this.pos++] = (n % 128) | 0x80;
      n = Math.floor(n / 128);
    }
    this.buf[this.pos++] = n;
  }

  string(s: string): void {
    const encoded = utf8.encode(s);
    this.varint(encoded.length);
    this.bytes(encoded);
  }

  float32(x: number): void {
    this.ensure(4);
    this.view.setFloat32(this.pos, x, true);
    this.pos += 4;
  }

  float64(x: number): void {
    this.ensure(8);
    this.view.setFloat64(this.pos, x, true);
    this.pos += 8;
  }

  /** The bytes written so far (a copy-free view). */
  finish(): Uint8Array {
    return this.buf.subarray(0, this.pos);
  }
}

/** Reads what a {@link ByteWriter} wrote; every read is bounds-checked and names the offset when it fails. */
export class ByteReader {
  private pos = 0;
  private readonly view: DataView;

  constructor(private readonly buf: Uint8Array) {
    this.view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  }

  get offset(): number {
    return this.pos;
  }

  get remaining(): number {
    return this.buf.length - this.pos;
  }

  private need(n: number, what: string): void {
    if (this.pos + n > this.buf.length) {
      throw new WireFormatError(`truncated message: ${what} at byte ${this.pos} needs ${n} bytes, ${this.remaining} left`);
    }
  }

  byte(what: string): number {
    this.need(1, what);
    return this.buf[this.pos++] as number;
  }

  varint(what: string): number {
    let result = 0;
    let scale = 1;
    const start = this.pos;
    for (let i = 0; i < 8; i++) {
      const b = this.byte(what);
      result += (b & 0x7f) * scale;
      if ((b & 0x80) === 0) {
        if (!Number.isSafeInteger(result)) break;
        return result;
      }
      scale *= 128;
    }
    throw new WireFormatError(`bad ${what} at byte ${start}: varint longer than 2^53`);
  }

  string(what: string): string {
    const length = this.varint(`${what} length`);
    this.need(length, what);
    const start = this.pos;
    this.pos += length;
    try {
      return utf8Strict.decode(this.buf.subarray(start, this.pos));
    } catch {
      throw new WireFormatError(`bad ${what} at byte ${start}: not valid UTF-8`);
    }
  }

  float32(what: string): number {
    this.need(4, what);
    const x = this.view.getFloat32(this.pos, true);
    this.pos += 4;
    return x;
  }

  float64(what: string): number {
    this.need(8, what);
    const x = this.view.getFloat64(this.pos, true);
    this.pos += 8;
    return x;
  }
}
