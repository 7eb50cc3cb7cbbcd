/**
 * Decodes the bytes read from a fanotify fd into plain records: `struct fanotify_event_metadata`
 * followed, in FID mode, by info records (directory handle + entry name).
 *
 * @module
 */
import {
  FAN_EVENT_INFO_TYPE_DFID_NAME,
  FAN_EVENT_METADATA_LEN,
  FANOTIFY_METADATA_VERSION,
  handleKey,
} from "../../ffi/fanotify.ts";

/** One decoded fanotify event. */
export interface RawFanEvent {
  mask: number;
  /** Open fd of the object (fd mode), or -1 (FID mode / overflow). The reader must close it. */
  fd: number;
  pid: number;
  /** FID mode: key of the directory's file handle (see `handleKey`). */
  dirHandle?: string;
  /** FID mode: the entry name inside that directory. */
  name?: string;
}

const utf8 = new TextDecoder();

/**
 * Decodes `len` bytes of `buf` into events. Throws when the kernel speaks a metadata version
 * this code does not know (decoding it blindly would misread every field).
 */
export function decodeFanEvents(buf: Uint8Array, len: number): RawFanEvent[] {
  const v = new DataView(buf.buffer, buf.byteOffset, len);
  const out: RawFanEvent[] = [];
  let off = 0;
  while (off + FAN_EVENT_METADATA_LEN <= len) {
    const eventLen = v.getUint32(off, true);
    const vers = v.getUint8(off + 4);
    if (vers !== FANOTIFY_METADATA_VERSION) {
      throw new Error(`fanotify metadata version ${vers}, expected ${FANOTIFY_METADATA_VERSION}`);
    }
    if (eventLen < FAN_EVENT_METADATA_LEN || off + eventLen > len) break;
    const metaLen = v.getUint16(off + 6, true);
    const ev: RawFanEvent = {
      // The mask is u64 but every bit we use sits in the low 32.
      mask: v.getUint32(off + 8, true),
      fd: v.getInt32(off + 16, true),
      pid: v.getInt32(off + 20, true),
    };
    let info = off + metaLen;
    while (info + 4 <= off + eventLen) {
      const type = v.getUint8(info);
      const infoLen = v.getUint16(info + 2, true);
      if (infoLen < 4) break;
      if (type === FAN_EVENT_INFO_TYPE_DFID_NAME) {
        // hdr(4) fsid(8) handle_bytes(4) handle_type(4) f_handle[handle_bytes] name\0
        const hb = v.getUint32(info + 12, true);
        const hStart = info + 20;
        ev.dirHandle = handleKey(
          buf.subarray(info + 16, info + 20),
          buf.subarray(hStart, hStart + hb),
        );
        const nameStart = hStart + hb;
        let end = nameStart;
        while (end < info + infoLen && buf[end] !== 0) end++;
        ev.name = utf8.decode(buf.subarray(nameStart, end));
      }
      info += infoLen;
    }
    out.push(ev);
    off += eventLen;
  }
  return out;
}
