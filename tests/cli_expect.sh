# cli_expect.sh — sourced by the tool's shell tests: ok / bad report a check (bad sets fail=1),
# expect_error NAME CMD... wants a non-zero exit below 128 and exactly one stderr line starting
# "doppler". Needs $W (a scratch directory).
fail=0
ok() { echo "ok   $1"; }
bad() { echo "FAIL $1"; fail=1; }

# expect_error NAME CMD... : non-zero exit, exactly one stderr line naming the problem, no crash
expect_error() {
  name=$1; shift
  "$@" >"$W/out" 2>"$W/err"; rc=$?
  lines=$(wc -l <"$W/err")
  if [ $rc -ne 0 ] && [ $rc -lt 128 ] && [ "$lines" -eq 1 ] && grep -q '^doppler' "$W/err"; then
    ok "$name: $(cat "$W/err")"
  else
    bad "$name (rc=$rc, $lines stderr lines)"; cat "$W/err"
  fi
}
