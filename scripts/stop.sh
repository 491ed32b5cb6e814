#!/usr/bin/env bash
# make stop: stop what make run started.
cd "$(dirname "$0")/.."
for pidfile in .build/run/*.pid; do
  [ -f "$pidfile" ] || continue
  pid=$(cat "$pidfile")
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
  fi
  rm -f "$pidfile"
done
pkill -f "tail -n \+1 -F .build/run/" 2>/dev/null || true
echo "stopped"
