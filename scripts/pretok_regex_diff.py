#!/usr/bin/env python3
"""Differential check of src/tokenizer/pretok.c against a real regex engine.

Builds a tiny harness against a build's libdoppler.a, splits random strings with the GPT-2,
Llama 3 and Qwen 2 pre-tokenizer regexes using the `regex` module (pip/apt python3-regex), and
compares the pieces. Characters unassigned in Python's unicodedata (the version the tables were
generated from) are left out, since newer Unicode versions move them into \\p{L}/\\p{N}.

    python3 scripts/pretok_regex_diff.py [build-dir] [texts-per-pattern]
"""
import os
import random
import subprocess
import sys
import tempfile
import unicodedata

import regex

PATTERNS = {
    1: r"""'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+""",
    2: r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
    3: r"""(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+""",
}
NAMES = {1: "gpt2", 2: "llama3", 3: "qwen2"}

HARNESS = r"""
#include <stdio.h>
#include <stdlib.h>
#include "tokenizer/tok_internal.h"
int main(int argc, char **argv) {
    int kind = atoi(argv[1]);
    static char line[1 << 20];
    static unsigned char buf[1 << 19];
    while (fgets(line, sizeof line, stdin)) {
        size_t n = 0;
        for (char *p = line; p[0] && p[1] && p[0] != '\n'; p += 2) {
            unsigned v;
            sscanf(p, "%2x", &v);
            buf[n++] = (unsigned char)v;
        }
        for (size_t pos = 0; pos < n;) {
            size_t e = dp_pretok_next((dp_pretok)kind, argc > 2, buf, n, pos);
            printf("%zu ", e - pos);
            pos = e;
        }
        printf("\n");
    }
    return 0;
}
"""

ALPHA = list("aAbsStTrReEvVmMlLdD'' \t\n\r\x0b\x0c019.,!?-_<>|\u00a0\u2000\u3000\u0085\u1680\u00e9\u00df\u017f"
             "\u0130\u212a\u0663\u00bd\u2162\u4e2d\u6587\u3042\U0001F999\U0001F468\u200d\u0301\u05d0\u0627\u0e01"
             "\u1100\uff21\uff11\u00b2\u2070\u0e50\u16ee\u2028\u2029\x1c\x1f\x00")


def random_text(rng):
    out = []
    for _ in range(rng.randint(0, 30)):
        if rng.random() < 0.8:
            out.append(rng.choice(ALPHA))
            continue
        while True:
            c = rng.randint(0x20, 0x2FFFF)
            if 0xD800 <= c <= 0xDFFF or unicodedata.category(chr(c)) == "Cn":
                continue
            out.append(chr(c))
            break
    return "".join(out)


def main():
    build = sys.argv[1] if len(sys.argv) > 1 else "build"
    count = int(sys.argv[2]) if len(sys.argv) > 2 else 20000
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    with tempfile.TemporaryDirectory() as tmp:
        src, exe = os.path.join(tmp, "pt.c"), os.path.join(tmp, "pt")
        open(src, "w").write(HARNESS)
        subprocess.check_call(["cc", "-O2", "-I", os.path.join(root, "src"), "-I", os.path.join(root, "include"), src,
                               os.path.join(build, "libdoppler.a"), "-lm", "-lpthread", "-o", exe])
        failed = 0
        for kind, pat in PATTERNS.items():
            rx = regex.compile(pat)
            rng = random.Random(kind)
            texts = [random_text(rng) for _ in range(count)]
            feed = "".join(t.encode().hex() + "\n" for t in texts)
            args = [exe, str(kind)] + (["fold"] if kind != 1 else [])
            out = subprocess.run(args, input=feed.encode(), capture_output=True, check=True).stdout.decode().split("\n")
            bad = 0
            for text, line in zip(texts, out):
                want = [len(m.group(0).encode()) for m in rx.finditer(text)]
                if want != [int(x) for x in line.split()]:
                    bad += 1
                    if bad <= 5:
                        print("  mismatch %s: %r" % (NAMES[kind], text))
            print("%s: %d random texts, %d mismatches" % (NAMES[kind], count, bad))
            failed += bad
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
