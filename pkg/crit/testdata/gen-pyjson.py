#!/usr/bin/python3
# Writes pyjson.json: how Python's json module (as crit calls it) prints
# strings and nested values. Run with Debian's python3:
#   /usr/bin/python3 gen-pyjson.py
import json
import random

random.seed(7)
strings = [b'', b'plain', b'"quoted" \\ back', b'\n\r\t\b\f\x00\x1f\x7f',
           'caf\u00e9 \u20ac \U0001f600'.encode(), b'\xff\xfe bad \xc3', b'\xed\xa0\x80',
           b'/slash', b'\xe2\x82']
for _ in range(60):
    strings.append(bytes(random.randint(0, 255) for _ in range(random.randint(0, 24))))
    strings.append(''.join(chr(random.choice([random.randint(0, 0x7f), random.randint(0x80, 0x7ff),
                                              random.randint(0x800, 0xd7ff),
                                              random.randint(0x10000, 0x10ffff)]))
                           for _ in range(random.randint(0, 12))).encode())
docs = [
    {"magic": "X", "entries": []},
    {"magic": "X", "entries": [{}]},
    {"a": [1, [2, []], {"b": {}}, True, False, None, -3, 18446744073709551615],
     "c": {"d": [{"e": "f"}]}, "g": ""},
]
json.dump({
    'strings': [[s.hex(), json.dumps(s.decode('utf-8', 'surrogateescape'))] for s in strings],
    'docs': [[json.dumps(d), json.dumps(d, indent=4)] for d in docs],
}, open('pyjson.json', 'w'), indent=0)
