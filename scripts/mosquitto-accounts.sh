#!/usr/bin/env bash
# Accounts and access rules of the phm live path in Mosquitto's dynamic-security plugin
# (phm/configs/mosquitto-shared.conf), made with `mosquitto_ctrl dynsec` against a running broker:
#   - default access: publish, subscribe and delivery denied (unsubscribe allowed);
#   - role phm-ingest: subscribe to the workers' shared group $share/phm-ingest/phm/v1/# and to
#     phm/v1/# (one worker without --shared), receive phm/v1/#; account phm-ingest has it;
#   - per site S: role phm-gateway-S may publish phm/v1/S/# only; account S (the gateway, named
#     after its site as in phm/configs/plant.toml) has it and nothing else.
# Nobody but phm-ingest may subscribe, so no gateway can join $share/phm-ingest (where it would
# take its turn and the broker would drop the message); the role `admin` made by `mosquitto_ctrl
# dynsec init` keeps its rights but gets a deny rule for $share/phm-ingest/#.
# Running it again adds only what is missing (a new site, a lost rule) and leaves existing
# accounts' passwords alone unless --set-passwords is given: Mosquitto disconnects a client
# whose password or roles change (it reconnects; ingest's persistent session keeps its queue).
# It never deletes anything: remove a site's account with `mosquitto_ctrl dynsec deleteClient`.
#
# Usage: scripts/mosquitto-accounts.sh [-h HOST] [-p PORT] [-u ADMIN] [--cafile FILE]
#                                      [--set-passwords] SITE...
#   -h/-p      the broker's listener for mosquitto_ctrl (default 127.0.0.1 1883, the loopback
#              listener of the shipped config); --cafile FILE connects with TLS (port 8883)
#   -u ADMIN   the dynsec admin account (default admin)
#   --set-passwords  set the password of accounts that exist already (rotation)
# Passwords, never on a command line (ps, shell history) nor printed:
#   admin:      PHM_DYNSEC_ADMIN_PASSWORD or PHM_DYNSEC_ADMIN_PASSWORD_FILE
#   account A:  PHM_PASSWORD_<A> (A upper-cased, `-` as `_`: PHM_PASSWORD_PHM_INGEST,
#               PHM_PASSWORD_SITE1) or the file PHM_PASSWORD_DIR/A (e.g. /root/phm-secrets/site1)
# mosquitto_ctrl reads every password from its standard input here.
set -euo pipefail

usage() {
    sed -n '/^# Usage:/,/^# mosquitto_ctrl reads/p' "$0" | sed 's/^# \{0,1\}//' >&2
    exit 2
}

host=127.0.0.1
port=
admin=admin
tls=()
sites=()
set_passwords=false
while [ $# -gt 0 ]; do
    case "$1" in
        -h) host=${2:?-h needs a host}; shift 2 ;;
        -p) port=${2:?-p needs a port}; shift 2 ;;
        -u) admin=${2:?-u needs the admin account}; shift 2 ;;
        --cafile) tls=(--cafile "${2:?--cafile needs a file}"); shift 2 ;;
        --set-passwords) set_passwords=true; shift ;;
        --help) usage ;;
        -*) echo "mosquitto-accounts: unknown option $1" >&2; usage ;;
        *) sites+=("$1"); shift ;;
    esac
done
[ ${#sites[@]} -gt 0 ] || { echo "mosquitto-accounts: name the plant's sites" >&2; usage; }
if [ -z "$port" ]; then
    if [ ${#tls[@]} -gt 0 ]; then port=8883; else port=1883; fi
fi
for site in "${sites[@]}"; do
    # one topic level, and not the ingest account's name
    if ! [[ "$site" =~ ^[A-Za-z0-9_.-]+$ ]] || [ "$site" = phm-ingest ] || [ "$site" = "$admin" ]
    then
        echo "mosquitto-accounts: $site: not a site name (letters, digits, _ . - only)" >&2
        exit 2
    fi
done

# secret NAME ENV_VAR FILE_OR_EMPTY: the password, on stdout (never logged)
secret() {
    local name=$1 var=$2 file=$3 value
    if [ -n "${!var:-}" ]; then
        value=${!var}
    elif [ -n "$file" ] && [ -r "$file" ]; then
        value=$(<"$file")
    else
        echo "mosquitto-accounts: no password for $name: set $var${file:+ or create $file}" >&2
        return 1
    fi
    value=${value%$'\n'}
    value=${value%$'\r'}
    if [ -z "$value" ] || [[ "$value" == *$'\n'* ]]; then
        echo "mosquitto-accounts: the password for $name is empty or has several lines" >&2
        return 1
    fi
    printf '%s' "$value"
}

account_password() {
    local var="PHM_PASSWORD_${1^^}"
    var=${var//[-.]/_}
    secret "$1" "$var" "${PHM_PASSWORD_DIR:+$PHM_PASSWORD_DIR/$1}"
}

admin_file=${PHM_DYNSEC_ADMIN_PASSWORD_FILE:-}
if [ -n "${PHM_DYNSEC_ADMIN_PASSWORD:-}" ] && [ -n "$admin_file" ]; then
    echo "mosquitto-accounts: set PHM_DYNSEC_ADMIN_PASSWORD or _FILE, not both" >&2
    exit 2
fi
admin_password=$(secret "$admin" PHM_DYNSEC_ADMIN_PASSWORD "$admin_file")
declare -A passwords
for account in phm-ingest "${sites[@]}"; do
    passwords[$account]=$(account_password "$account")
done

errors=$(mktemp)
trap 'rm -f "$errors"' EXIT

# ctrl [--new-password PW] [--ok 'Error text'] [--kicks] COMMAND ARGS...: one `mosquitto_ctrl
# dynsec` command, its output in $out. mosquitto_ctrl exits 0 even when a command fails, so its
# error output decides: 1 for the tolerated error, any other error stops the script. --kicks:
# the command changes the admin's own rights, so the broker applies it and disconnects
# mosquitto_ctrl before it answers (mosquitto_ctrl would wait 10 s for the answer): give up
# after 2 s; the caller checks the result.
ctrl() {
    local input="" ok="" err limit=()
    while :; do
        case "$1" in
            --new-password) input+="$2"$'\n'"$2"$'\n'; shift 2 ;;
            --ok) ok=$2; shift 2 ;;
            --kicks) limit=(timeout 2); shift ;;
            *) break ;;
        esac
    done
    # mosquitto_ctrl 2.0 prompts for a new password (twice) before the admin's
    input+="$admin_password"$'\n'
    out=$(${limit[@]+"${limit[@]}"} mosquitto_ctrl -h "$host" -p "$port" ${tls[@]+"${tls[@]}"} \
        -u "$admin" dynsec "$@" <<<"$input" 2>"$errors") || true
    err=$(grep -v -e '^Warning: You are running mosquitto_ctrl' \
        -e '^This means all of the configuration' -e '^$' "$errors" || true)
    if [ -z "$err" ]; then
        return 0
    fi
    if [ -n "$ok" ] && [[ "$err" == *"$ok"* ]] && [[ "$err" != *"Connection error"* ]]; then
        return 1
    fi
    echo "mosquitto-accounts: mosquitto_ctrl dynsec $1 ${2:-}: $err" >&2
    exit 1
}

# role NAME ACLTYPE TOPIC...: the role, with these allow rules added where missing (a rule
# is never removed and added again: clients of a live broker keep their access throughout)
role() {
    local name=$1
    shift
    ctrl --ok "Role already exists" createRole "$name" || true
    ctrl getRole "$name"
    local have=$out
    while [ $# -gt 0 ]; do
        if ! grep -Eq "(ACLs:)? +$1 +: allow : $(printf '%s' "$2" | sed 's/[][$.*^\\/]/\\&/g') " \
            <<<"$have"; then
            ctrl addRoleACL "$name" "$1" "$2" allow
        fi
        shift 2
    done
    echo "mosquitto-accounts: role $name set"
}

# account NAME ROLE: the client with this password and (at least) this role
account() {
    local pw=${passwords[$1]}
    if ctrl --new-password "$pw" --ok "Client already exists" createClient "$1"; then
        echo "mosquitto-accounts: account $1 created"
    elif $set_passwords; then
        ctrl --new-password "$pw" setClientPassword "$1"
        echo "mosquitto-accounts: account $1 existed: password set"
    else
        echo "mosquitto-accounts: account $1 existed: password kept"
    fi
    ctrl getClient "$1"
    if ! grep -Eq "^(Roles: +| +)$2 \(priority" <<<"$out"; then
        ctrl addClientRole "$1" "$2"
    fi
    echo "mosquitto-accounts: account $1 has role $2"
}

ctrl setDefaultACLAccess subscribe deny
ctrl setDefaultACLAccess publishClientSend deny
ctrl setDefaultACLAccess publishClientReceive deny
ctrl setDefaultACLAccess unsubscribe allow
echo "mosquitto-accounts: default access: subscribe, publish and delivery denied"

# The admin role of `mosquitto_ctrl dynsec init` may subscribe to `#`, shared groups included:
# keep it out of the ingest workers' group (it would divert messages from the lake).
guard='deny  : $share/phm-ingest/# '
if ctrl --ok "Role not found" getRole admin; then
    if ! grep -Fq "$guard" <<<"$out"; then
        ctrl --kicks addRoleACL admin subscribePattern '$share/phm-ingest/#' deny 100
        ctrl getRole admin
        if ! grep -Fq "$guard" <<<"$out"; then
            echo "mosquitto-accounts: the deny rule for role admin was not added" >&2
            exit 1
        fi
    fi
    echo "mosquitto-accounts: role admin may not join \$share/phm-ingest"
fi

role phm-ingest subscribePattern '$share/phm-ingest/phm/v1/#' subscribePattern 'phm/v1/#' \
    publishClientReceive 'phm/v1/#'
account phm-ingest phm-ingest
for site in "${sites[@]}"; do
    role "phm-gateway-$site" publishClientSend "phm/v1/$site/#"
    account "$site" "phm-gateway-$site"
done
