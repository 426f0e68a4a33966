"""Marks every defined external symbol of a 64-bit Mach-O object private extern (hidden),
except those named on the command line, in place: the linker then keeps them out of a
dylib's exports and out of a program's symbol table, as -fvisibility=hidden would have.
(zig's Mach-O linker ignores -exported_symbols_list, which rustc relies on for cdylibs.)

Usage: python3 scripts/macho-hide-symbols.py OBJECT KEEP-SYMBOL...
"""

import struct
import sys

MH_MAGIC_64 = 0xFEEDFACF
LC_SYMTAB = 0x2
N_STAB, N_PEXT, N_TYPE, N_EXT, N_SECT = 0xE0, 0x10, 0x0E, 0x01, 0x0E


def hide(path: str, keep: set) -> int:
    with open(path, "r+b") as f:
        data = bytearray(f.read())
        magic, _, _, _, ncmds, _, _, _ = struct.unpack_from("<IiiIIIII", data, 0)
        if magic != MH_MAGIC_64:
            raise SystemExit(f"{path}: not a 64-bit little-endian Mach-O file")
        offset, hidden = 32, 0
        for _ in range(ncmds):
            cmd, cmdsize = struct.unpack_from("<II", data, offset)
            if cmd == LC_SYMTAB:
                symoff, nsyms, stroff, _ = struct.unpack_from("<IIII", data, offset + 8)
                for i in range(nsyms):
                    entry = symoff + 16 * i
                    strx, n_type = struct.unpack_from("<IB", data, entry)
                    if n_type & N_STAB or not n_type & N_EXT or n_type & N_TYPE != N_SECT:
                        continue
                    name = data[stroff + strx : data.index(0, stroff + strx)].decode()
                    if name not in keep and not n_type & N_PEXT:
                        data[entry + 4] = n_type | N_PEXT
                        hidden += 1
            offset += cmdsize
        f.seek(0)
        f.write(data)
    return hidden


if __name__ == "__main__":
    print(f"{sys.argv[1]}: {hide(sys.argv[1], set(sys.argv[2:]))} symbols hidden")
