#!/bin/bash
# The listener-keeps-the-id experiment (docs/fork-and-credentials.md,
# "The listener's record"): lkid serves N connections from sdtest's client
# (which ends each at our 32 zero bytes: a bad negotiate response) and
# prints the parent's heap after each. From the repository, on the host:
#   gcc -O1 -Wall -Wextra -o build/lkid test/vm/experiments/lkid.c -lrdmacm -libverbs
#   bash buildtools/vm/run.sh -o /var/tmp/lkid -- bash "$PWD/test/vm/experiments/run-lkid.sh" \
#       "$PWD/build/lkid" "$PWD/build/test-release/test/vm/sdtest" 60
#   grep 'heap in use' /var/tmp/lkid/lkid.log
lkid=$1 sdtest=$2 n=${3:-20}
"$lkid" 10.9.0.1 5600 "$n" >"$SDVM_OUT/lkid.log" 2>&1 &
p=$!
sleep 1
for i in $(seq 1 "$n"); do
	timeout 15 "$sdtest" client 10.9.0.1 5600 negotiate >>"$SDVM_OUT/client.log" 2>&1
	echo "client $i exit $?" >>"$SDVM_OUT/client.log"
done
timeout 30 tail --pid=$p -f /dev/null
wait $p
echo "lkid exit $?" >>"$SDVM_OUT/lkid.log"
