#!/usr/bin/env bash
# The one-request sign-up beside Fides's save pair, interleaved like ../shared/peers/side.sh
# (fides, candor, fides, candor ...), on the same running pair of servers: Fides's save op is
# POST /consent-request + PATCH …/preferences; Candor's is one POST …/signup (bench/peer_signup.py).
# Needs what side.sh needs (Fides and Candor up, $CROOT/env written by candor/start.sh).
# Usage: bench/side_signup.sh [runs=3] [concurrency=16] [duration_s=20]
set -uo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
PEERS=${PEERS:-$(cd "$HERE/../../shared/peers" && pwd)}
. "$PEERS/fides/env.sh"
R=${1:-3}; C=${2:-16}; D=${3:-20}
CROOT=${CROOT:-$(dirname "$ROOT")/candor-peer}; . "$CROOT/env"; export CANDOR_KEY CANDOR_NV
PY="$ROOT/venv/bin/python"; FL="$PEERS/fides/load.py"; SL="$HERE/peer_signup.py"
echo "# sign-up side by side  fides_workers=$FIDES_WORKERS  c=$C d=${D}s  $(date -u +%FT%TZ)"
echo "## warm-up"
$PY "$FL" save -c "$C" -d 5 --tag "w$(date +%s)" >/dev/null
ROOT=$CROOT $PY "$SL" save -c "$C" -d 5 --tag "w$(date +%s)" >/dev/null
for r in $(seq 1 "$R"); do
  echo "## run $r"
  $PY "$FL" save -c "$C" -d "$D" --tag "s$r-$(date +%s)" | sed 's/^/fides  /'
  ROOT=$CROOT $PY "$SL" save -c "$C" -d "$D" --tag "s$r-$(date +%s)" | sed 's/^/candor /'
done
