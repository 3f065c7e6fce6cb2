#!/usr/bin/python3
# Writes explore.json: what Debian's crit (3.17) prints for `crit x DIR WHAT`
# on every fixture set, and whether it finished (it stops with a traceback
# on tasks that have no ids/mm image, such as zombies). crit 3.17 reads a
# CRIU 4.2 pagemap's page count from field 2, where 4.2 writes 0 and keeps
# the count in field 5, so for rss it is run on a copy of the set whose
# pagemaps carry the count in field 2. Run:
#   /usr/bin/python3 gen-explore.py FIXTURES
# where FIXTURES is the shared fixtures directory (../shared/fixtures
# beside the repository root).
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile


def varint(b, i):
    v = s = 0
    while True:
        c = b[i]
        i += 1
        v |= (c & 0x7f) << s
        s += 7
        if c < 0x80:
            return v, i


def put_varint(v):
    out = bytearray()
    while True:
        c = v & 0x7f
        v >>= 7
        if v:
            out.append(c | 0x80)
        else:
            out.append(c)
            return bytes(out)


def old_style_entry(b):
    fields = []
    i = 0
    while i < len(b):
        tag, i = varint(b, i)
        assert tag & 7 == 0, "pagemap_entry holds varints only"
        v, i = varint(b, i)
        fields.append((tag >> 3, v))
    nr = dict(fields).get(5)
    out = bytearray()
    for num, v in fields:
        if num == 5:
            continue
        if num == 2 and nr is not None:
            v = nr
        out += put_varint(num << 3) + put_varint(v)
    return bytes(out)


def rewrite_pagemap(path):
    data = open(path, 'rb').read()
    out = bytearray(data[:8])
    i, n = 8, 0
    while i < len(data):
        size, = struct.unpack('<I', data[i:i + 4])
        body = data[i + 4:i + 4 + size]
        i += 4 + size
        if n > 0:
            body = old_style_entry(body)
        out += struct.pack('<I', len(body)) + body
        n += 1
    open(path, 'wb').write(bytes(out))


def run(d, what):
    p = subprocess.run(['/usr/bin/crit', 'x', d, what], capture_output=True, text=True)
    return {'out': p.stdout, 'complete': p.returncode == 0}


base = sys.argv[1]
res = {}
for tree in ['criu-4.2', 'criu-4.2-zoo']:
    root = os.path.join(base, tree, 'images')
    for s in sorted(os.listdir(root)):
        d = os.path.join(root, s)
        if not os.path.exists(os.path.join(d, 'pstree.img')):
            continue
        for what in ['ps', 'fds', 'mems']:
            res['%s/%s/%s' % (tree, s, what)] = run(d, what)
        with tempfile.TemporaryDirectory() as tmp:
            c = os.path.join(tmp, s)
            shutil.copytree(d, c)
            for f in os.listdir(c):
                if f.startswith('pagemap-') and not f.startswith('pagemap-shmem'):
                    rewrite_pagemap(os.path.join(c, f))
            res['%s/%s/rss' % (tree, s)] = run(c, 'rss')
json.dump(res, open('explore.json', 'w'), indent=0, sort_keys=True)
