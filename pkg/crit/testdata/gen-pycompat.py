#!/usr/bin/python3
# Writes pycompat.json: what Python 3 (the interpreter crit runs on) gives
# for the conversions pkg/crit redoes in Go. Run with Debian's python3:
#   /usr/bin/python3 gen-pycompat.py
import base64
import ipaddress
import json
import quopri
import random

random.seed(42)

qp_inputs = [
    b'', b'\x00', b'/tmp/sock', b'\x00abstract', b'a b ', b'a\tb\t',
    b'line\nline2 \nx', b'a\r\nb \r\nc', b'.', b'.\n', b'x\n.', b'=', b'==',
    b'a' * 75, b'a' * 76, b'a' * 77, b'a' * 150, b'=' * 30, b'a' * 74 + b'=',
    b'a' * 73 + b'\xff\xff', b' ' * 80, b'\t' * 80 + b'\n', b'\r', b'a\rb',
    b'\r\n', b'\n\r\n', b'.\r', b'x' * 75 + b'\n', b'x' * 76 + b'\n' + b'y' * 80,
]
alphabet = b'ab =.\t\n\r\x00\xff\x7f~!'
for i in range(120):
    n = random.randint(0, 160)
    if i % 2:
        qp_inputs.append(bytes(random.choice(alphabet) for _ in range(n)))
    else:
        qp_inputs.append(bytes(random.randint(0, 255) for _ in range(n)))

qp_decode = []
for i in range(120):
    s = ''.join(random.choice('ab=\n\r0F9fgZ ') for _ in range(random.randint(0, 40)))
    qp_decode.append([s, quopri.decodestring(s).hex()])

ipv6 = []
for v in [0, 1, 0xffff << 32 | 0x01020304, 1 << 127]:
    ipv6.append(['%032x' % v, ipaddress.IPv6Address(v).compressed])
for i in range(120):
    v = 0
    for _ in range(8):
        v = v << 16 | random.choice([0, 0, 0, 1, 0xffff, random.randint(0, 0xffff)])
    ipv6.append(['%032x' % v, ipaddress.IPv6Address(v).compressed])

b64 = []
for n in [0, 1, 2, 3, 56, 57, 58, 113, 114, 115, 200, 1000]:
    s = bytes(random.randint(0, 255) for _ in range(n))
    b64.append([s.hex(), base64.encodebytes(s).decode()])

ints = []
for s in ['0', '00', '0x1f', '0X1F', '-0x5', '0o17', '0b101', '1_000', '0x_1f',
          '  42  ', '+7', '010', '1__0', '_1', '1_', '0x', '', 'abc', '0b2', '-0',
          '18446744073709551615', '0xffffffffffffffffff']:
    try:
        ints.append([s, str(int(s, 0))])
    except ValueError:
        ints.append([s, None])

json.dump({
    'qp_encode': [[s.hex(), quopri.encodestring(s).decode()] for s in qp_inputs],
    'qp_decode': qp_decode,
    'ipv6': ipv6,
    'base64': b64,
    'pyint': ints,
}, open('pycompat.json', 'w'), indent=0)
