#!/usr/bin/env bash
# The supervisor's guardian: remembers every child process group ("+PGID" / "-PGID" lines on
# stdin) and SIGKILLs the ones left when its stdin closes, that is when the control server died,
# even by kill -9. It ignores the signals a terminal sends, so it outlives the server's group.
trap '' INT TERM HUP
declare -A groups=()
while IFS= read -r line; do
  case "$line" in
    +*) groups["${line#+}"]=1 ;;
    -*) unset "groups[${line#-}]" ;;
  esac
done
for g in "${!groups[@]}"; do
  kill -KILL -- "-$g" 2>/dev/null
done
exit 0
