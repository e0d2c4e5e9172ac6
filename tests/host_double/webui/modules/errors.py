"""A1111's `modules.errors.report`: prints the message (and traceback) to stderr, raises nothing."""

import sys
import traceback


def report(message: str, *, exc_info: bool = False) -> None:
    for line in message.splitlines():
        print("***", line, file=sys.stderr)
    if exc_info:
        print(traceback.format_exc(), file=sys.stderr)


def display(e: Exception, task: str, *, full_traceback: bool = False) -> None:
    print(f"{task or 'error'}: {type(e).__name__}", file=sys.stderr)
    print(traceback.format_exc(), file=sys.stderr)
