# The README's two commands: `make run` and `make test`. Everything else is a convenience.
SHELL := /bin/bash
JOBS ?= $(shell nproc)
CONFIG ?= examples/quickstart.yaml
RELEASE_DIR := build
TEST_DIR := build-asan
FUZZ_DIR := build-fuzz
FUZZ_SECONDS ?= 600

.PHONY: run build test deps fuzz format lint bench clean

deps:
	@scripts/install-deps.sh build

build: deps
	@cmake -S . -B $(RELEASE_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Release -DFULCRUM_TESTS=OFF >/dev/null
	@cmake --build $(RELEASE_DIR) -j $(JOBS)

# Builds Release and runs lbd in the foreground on the quickstart config; Ctrl-C stops it.
run: build
	exec ./$(RELEASE_DIR)/lbd --config $(CONFIG)

# Debug build with AddressSanitizer + UndefinedBehaviorSanitizer, then every test through ctest.
test:
	@scripts/install-deps.sh test
	@cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DFULCRUM_SANITIZE=address,undefined -DFULCRUM_TESTS=ON >/dev/null
	@cmake --build $(TEST_DIR) -j $(JOBS)
	@cd $(TEST_DIR) && ctest --output-on-failure -j $(JOBS) --timeout 600

# libFuzzer targets (clang), each run for FUZZ_SECONDS.
fuzz:
	@scripts/install-deps.sh test
	@CC=clang CXX=clang++ cmake -S . -B $(FUZZ_DIR) -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DFULCRUM_FUZZ=ON -DFULCRUM_TESTS=OFF >/dev/null
	@cmake --build $(FUZZ_DIR) -j $(JOBS) --target fuzz_targets
	@for t in $(FUZZ_DIR)/tests/fuzz/fuzz_*; do \
	  name=$$(basename $$t); corpus=tests/fuzz/$${name#fuzz_}/corpus; \
	  mkdir -p $(FUZZ_DIR)/corpus/$$name; \
	  $$t -max_total_time=$(FUZZ_SECONDS) -print_final_stats=1 $(FUZZ_DIR)/corpus/$$name $$corpus || exit 1; \
	done

format:
	@git ls-files '*.cc' '*.h' | xargs clang-format -i

lint:
	@cmake -S . -B $(TEST_DIR) -G Ninja -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
	@git ls-files '*.cc' | grep -v '^tests/' | xargs clang-tidy -p $(TEST_DIR) --quiet

bench: build
	@scripts/install-deps.sh bench
	../shared/bench/run.sh --only haproxy,nginx \
	  --candidate 'lbd=./build/lbd proxy --listen {listen} --to {backends} --workers {threads}' \
	  --candidate-modes lbd=http $(BENCH_ARGS)

clean:
	rm -rf $(RELEASE_DIR) $(TEST_DIR) $(FUZZ_DIR)
