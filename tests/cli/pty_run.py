#!/usr/bin/env python3
"""Runs a command on a pseudo-terminal, answering its questions, and prints what it showed.

    pty_run.py [--expect TEXT --send LINE]... -- COMMAND ARG...

Each --expect waits (up to 10 s) for TEXT in the output, then types LINE and Enter. The
output (with \\r\\n turned into \\n) goes to stdout; the exit status is the command's.
"""
import os, pty, select, sys, time

def main():
    args = sys.argv[1:]
    split = args.index('--')
    steps, command = args[:split], args[split + 1:]
    script = []
    while steps:
        flag, value = steps.pop(0), steps.pop(0)
        if flag == '--expect':
            script.append([value.encode(), None])
        elif flag == '--send':
            script[-1][1] = value.encode()
    pid, fd = pty.fork()
    if pid == 0:
        os.execvp(command[0], command)
    output = b''
    seen = 0

    def read_some(deadline):
        nonlocal output
        ready, _, _ = select.select([fd], [], [], max(0, deadline - time.time()))
        if not ready:
            return False
        try:
            chunk = os.read(fd, 4096)
        except OSError:
            return False
        output += chunk
        return bool(chunk)

    for expected, answer in script:
        deadline = time.time() + 10
        while expected not in output[seen:] and time.time() < deadline:
            if not read_some(deadline):
                break
        if expected not in output[seen:]:
            sys.stdout.write(output.decode(errors='replace').replace('\r\n', '\n'))
            sys.stderr.write(f'pty_run: never saw {expected!r}\n')
            os.kill(pid, 9)
            return 99
        seen = output.index(expected, seen) + len(expected)
        os.write(fd, answer + b'\n')
    deadline = time.time() + 10
    while read_some(deadline):
        pass
    _, status = os.waitpid(pid, 0)
    sys.stdout.write(output.decode(errors='replace').replace('\r\n', '\n'))
    return os.waitstatus_to_exitcode(status)

sys.exit(main())
