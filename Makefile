.PHONY: run test bench-generation bench-feed bench-provenance bench-localization messages

# Run the backend (API + websocket + worker) on embedded defaults.
run:
	./scripts/run.sh

# Run the whole test suite on PostgreSQL and Redis (installed and started if missing).
test:
	./scripts/test.sh

# Generation benchmark: dispatch latency, websocket latency, preview render speed.
bench-generation:
	./scripts/bench.sh generation

# Feed benchmark: seeds 1M posts (reused between runs), loads the production server with wrk.
bench-feed:
	./scripts/bench.sh feed

# Provenance benchmark: C2PA signing time per render against the preview render (no database).
bench-provenance:
	./scripts/bench.sh provenance

# Localisation benchmark: offline stages (transcribe, translate, dub, mux, burn-in) on one core, per language.
bench-localization:
	./scripts/bench.sh localization

# Re-extract every message into config/locale (each launch language) and compile the catalogs.
# Then translate what `python manage.py check_translations` lists and run it again.
messages:
	./scripts/messages.sh
