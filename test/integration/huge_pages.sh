#!/usr/bin/env bash
# recsys.catalog_huge_pages: after a backend loads a catalogue, its large private memory is
# advised to transparent huge pages (VmFlags "hg" in its memory map; how much of it the kernel
# could back with huge pages depends on the free memory, and is reported), and nothing is advised
# with the setting off; the ranking is the same either way. Emits TAP.
set -euo pipefail
org="4b4b4b4b-0000-0000-0000-000000004b4b"
q() { psql -X -q -v ON_ERROR_STOP=1 -At -c "SET recsys.org_id = '$org'" "$@"; }
echo "1..3"
# 20,000 items with 64-dimensional embeddings: the embeddings alone take a 5 MB mapping.
q -c "SELECT recsys.recsys_seed_synthetic('pages', '{\"items\": 20000, \"users\": 200, \"events\": 20000, \"dim\": 64,
                                                     \"end\": \"2026-11-01T00:00:00Z\"}')" >/dev/null
# One session with the setting: its ranking, then (while it is open) how many of its backend's
# mappings are advised to huge pages, and its AnonHugePages in kB.
session() {
    psql -X -q -v ON_ERROR_STOP=1 -At <<SQL | tr '\n' ' '
SET recsys.org_id = '$org';
SET recsys.catalog_huge_pages = $1;
SELECT string_agg(item_id, ',' ORDER BY rank) FROM recsys.recsys_rank('pages', 'user_3', 10);
SELECT pg_backend_pid() AS pid \\gset
\\setenv BACKEND_PID :pid
\\! (grep -c '^VmFlags:.* hg' /proc/\$BACKEND_PID/smaps; awk '/^AnonHugePages:/ {print \$2}' /proc/\$BACKEND_PID/smaps_rollup) 2>/dev/null || echo unreadable
SQL
    echo
}
read -r list_on advised_on huge_on < <(session on)
read -r list_off advised_off huge_off < <(session off)
[ -n "$list_on" ] && [ "$list_on" = "$list_off" ] && echo "ok 1 - the ranking is the same with and without huge pages" \
    || echo "not ok 1 - on: $list_on, off: $list_off"
if [ "$advised_on" = unreadable ] || [ "$advised_off" = unreadable ] || [ ! -e /sys/kernel/mm/transparent_hugepage/enabled ]; then
    echo "ok 2 # SKIP no transparent huge pages here, or the backend's memory map is not readable by $(id -un)"
    echo "ok 3 # SKIP no transparent huge pages here, or the backend's memory map is not readable by $(id -un)"
else
    [ "$advised_on" -gt 0 ] && echo "ok 2 - with the setting on, $advised_on mappings are advised ($huge_on kB in huge pages)" \
        || echo "not ok 2 - no mapping advised with the setting on"
    [ "$advised_off" = 0 ] && echo "ok 3 - with the setting off, none" || echo "not ok 3 - $advised_off mappings advised with the setting off"
fi
q -c "SELECT recsys.recsys_reset_namespace('pages', true)" >/dev/null
