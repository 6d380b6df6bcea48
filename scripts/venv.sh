# Sourced by the other scripts: makes .venv with the pinned dependencies.
# Reinstalls only when pyproject.toml changes. EXTRAS="dev" adds the test tools.
set -euo pipefail

as_root() { if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi; }

APT_UPDATED=""
apt_install() {
    if [ -z "$APT_UPDATED" ]; then
        as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
        APT_UPDATED=1
    fi
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "$@"
}

PYTHON="${PYTHON:-python3}"
if ! command -v "$PYTHON" >/dev/null 2>&1; then
    apt_install python3 python3-venv python3-pip
fi
if [ ! -x .venv/bin/python ]; then
    if ! "$PYTHON" -m venv .venv 2>/dev/null; then
        rm -rf .venv
        apt_install python3-venv
        "$PYTHON" -m venv .venv
    fi
fi

EXTRAS="${EXTRAS:-}"
stamp=".venv/.installed-$(cat pyproject.toml | sha256sum | cut -c1-16)${EXTRAS:+-$EXTRAS}"
if [ ! -f "$stamp" ]; then
    echo "==> installing pinned dependencies into .venv"
    .venv/bin/python -m pip install --quiet --disable-pip-version-check --upgrade pip
    .venv/bin/python -m pip install --quiet --disable-pip-version-check -e ".${EXTRAS:+[$EXTRAS]}"
    rm -f .venv/.installed-*
    touch "$stamp"
fi
export PATH="$PWD/.venv/bin:$PATH"

# GNU gettext compiles the translation catalogs; apertium (with its English-Spanish and
# Spanish-Portuguese pairs) is the offline caption translator (TRANSLATION_BACKEND=apertium).
if ! command -v msgfmt >/dev/null 2>&1 || ! command -v xgettext >/dev/null 2>&1; then
    apt_install gettext
fi
if ! command -v apertium >/dev/null 2>&1 || [ ! -d /usr/share/apertium/apertium-eng-spa ] \
        || [ ! -d /usr/share/apertium/apertium-es-pt ]; then
    # Optional: without it captions are shown untranslated (its tests are skipped).
    apt_install apertium apertium-eng-spa apertium-es-pt \
        || echo "==> apertium not installed: offline caption translation is off" >&2
fi
# espeak-ng speaks the offline dubs of video localisation (LOCALIZATION_SYNTHESIZER=espeak), with its
# voices for es, pt-BR, hi, id, ja, zh and ar.
if ! command -v espeak-ng >/dev/null 2>&1; then
    apt_install espeak-ng || echo "==> espeak-ng not installed: offline dubbing is off" >&2
fi
# DejaVu Sans draws burnt-in subtitles (LOCALIZATION_BURN_IN_FONT).
if [ ! -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ]; then
    apt_install fonts-dejavu-core || echo "==> fonts-dejavu-core not installed: subtitles cannot be burnt in" >&2
fi
# The catalogs (config/locale/*/LC_MESSAGES/django.po) compiled to .mo (not in git) whenever a
# .po is newer than its .mo.
for po in config/locale/*/LC_MESSAGES/django.po; do
    [ -e "$po" ] || continue
    mo="${po%.po}.mo"
    if [ ! -f "$mo" ] || [ "$po" -nt "$mo" ]; then
        msgfmt --check-format -o "$mo" "$po"
    fi
done
