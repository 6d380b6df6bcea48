.PHONY: run test migrate bench

# Run the backend (API + websocket + worker) on embedded defaults.
run:
	./scripts/run.sh

# Run the whole test suite on PostgreSQL and Redis (installed and started if missing).
test:
	./scripts/test.sh
