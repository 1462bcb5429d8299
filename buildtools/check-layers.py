#!/usr/bin/env python3
"""Check the library's layering on the objects of a build (docs/architecture.md).

Usage: check-layers.py BUILD_DIR

Reads the symbols of every object file built from lib/ (nm) and checks:

  1. the protocol core (lib/core) is sans-I/O: it calls nothing but talloc
     and pure libc functions (no system call wrapper, no rdma-core, no
     tevent, no thread), and nothing of the layers above it;
  2. where RDMA calls run (lib/thread) uses nothing of the RDMA binding;
  3. the files of the RDMA binding (lib/rdma) call each other without a
     cycle: dependencies point one way.

Prints the file-level dependency graph of lib/rdma, lowest first, and
exits 0; or prints what breaks a rule and exits 1.
"""
import os
import subprocess
import sys

# libc functions the core may call: memory, strings, formatting, abort.
CORE_LIBC = {
    'memcpy', 'memmove', 'memset', 'memcmp', 'strlen', 'strcmp', 'strncmp',
    'strerror', 'snprintf', 'vsnprintf', 'abort', '__stack_chk_fail',
    '__assert_fail', '__memcpy_chk', '__memset_chk', '__snprintf_chk',
    '__vsnprintf_chk', '__memmove_chk',
}
# Sanitizer and coverage instrumentation, when the build has it.
INSTRUMENTATION = ('__asan_', '__ubsan_', '__sanitizer_', '__sancov_',
                   '__llvm_', '__msan_', '__tsan_')


def symbols(obj):
    out = subprocess.run(['nm', obj], check=True, capture_output=True,
                         text=True).stdout
    defined, undefined = set(), set()
    for line in out.splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[0] == 'U':
            undefined.add(parts[1])
        elif len(parts) == 3 and parts[1] in 'TDBRC':
            defined.add(parts[2])
    return defined, undefined


def objects(build):
    found = {}
    for root, _, files in os.walk(build):
        if 'CMakeFiles' not in root:
            continue
        for f in files:
            if not f.endswith('.c.o'):
                continue
            path = os.path.join(root, f)
            rel = path[path.index('/lib/') + 1:] if '/lib/' in path else None
            if rel is None or not rel.startswith('lib/'):
                continue
            rel = rel[:-2]  # lib/x/y.c
            # One object per source is enough (the same source is built
            # into several targets).
            found.setdefault(rel, path)
    return found


def find_cycle(graph):
    state = {}
    stack = []

    def visit(n):
        state[n] = 1
        stack.append(n)
        for m in sorted(graph[n]):
            if state.get(m) == 1:
                return stack[stack.index(m):] + [m]
            if m not in state:
                c = visit(m)
                if c:
                    return c
        stack.pop()
        state[n] = 2
        return None

    for n in sorted(graph):
        if n not in state:
            c = visit(n)
            if c:
                return c
    return None


def main():
    if len(sys.argv) != 2:
        print(__doc__.strip().splitlines()[2], file=sys.stderr)
        return 2
    objs = objects(sys.argv[1])
    if not any(k.startswith('lib/core/') for k in objs):
        print('check-layers: no lib/ objects under %s' % sys.argv[1],
              file=sys.stderr)
        return 2
    defs, undefs = {}, {}
    for src, obj in objs.items():
        defs[src], undefs[src] = symbols(obj)
    owner = {}
    for src, d in defs.items():
        for s in d:
            owner[s] = src
    failures = []
    for src in sorted(objs):
        layer = src.split('/')[1]
        for s in sorted(undefs[src]):
            if s.startswith(INSTRUMENTATION):
                continue
            where = owner.get(s)
            if layer == 'core':
                if where is not None and not where.startswith('lib/core/'):
                    failures.append('%s calls %s of %s' % (src, s, where))
                elif where is None and not (s.startswith('talloc') or
                                            s.startswith('_talloc') or
                                            s in CORE_LIBC):
                    failures.append('%s (the sans-I/O core) calls %s' %
                                    (src, s))
            elif layer == 'thread':
                if where is not None and where.startswith('lib/rdma/'):
                    failures.append('%s calls %s of %s (the binding)' %
                                    (src, s, where))
    graph = {}
    for src in objs:
        if not src.startswith('lib/rdma/'):
            continue
        graph[src] = set()
        for s in undefs[src]:
            where = owner.get(s)
            if where is not None and where.startswith('lib/rdma/') and \
                    where != src:
                graph[src].add(where)
    cycle = find_cycle(graph)
    if cycle:
        failures.append('a cycle between files of lib/rdma: ' +
                        ' -> '.join(cycle))
    if failures:
        for f in failures:
            print('check-layers: ' + f)
        return 1
    # Lowest first: a file after everything it calls.
    order, done = [], set()

    def place(n):
        if n in done:
            return
        done.add(n)
        for m in sorted(graph[n]):
            place(m)
        order.append(n)

    for n in sorted(graph):
        place(n)
    for n in order:
        calls = ', '.join(os.path.basename(m)[:-2] for m in sorted(graph[n]))
        print('%-22s -> %s' % (n, calls if calls else '(core, thread only)'))
    print('check-layers: core sans-I/O, thread below the binding, no cycle '
          'in lib/rdma (%d files)' % len(graph))
    return 0


if __name__ == '__main__':
    sys.exit(main())
