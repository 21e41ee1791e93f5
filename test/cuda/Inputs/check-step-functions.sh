#!/bin/sh
# check-step-functions.sh INSPECT.txt: every step of the plan (the `steps N`
# line of `ingot inspect`) has a line in the "cuda functions" listing.
f=$1
steps=$(grep '^steps ' "$f" | cut -d' ' -f2)
listed=$(sed -n '/^cuda functions/,/^[a-z]/p' "$f" | grep -c '^  [0-9]')
if [ "$steps" != "$listed" ]; then
  echo "$f: $steps steps, $listed with cuda functions" >&2
  exit 1
fi
