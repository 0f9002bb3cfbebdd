# Front door. `make` builds into build/; `make run` and `make check` are the
# README's two commands and install what they need first.
BUILD ?= build
ASAN_BUILD ?= build-asan
JOBS ?= $(shell nproc)

.PHONY: all build run check check-fast check-asan deps-run deps-test clean

all: build

build:
	cmake -S . -B $(BUILD) -DSC_WERROR=ON >/dev/null
	cmake --build $(BUILD) -j $(JOBS)

deps-run:
	scripts/install-deps.sh run

deps-test:
	scripts/install-deps.sh test

run: deps-run build
	scripts/run-demo.sh $(BUILD)

# Every test, in the normal build and again under ASan+UBSan.
check: deps-test build
	cd $(BUILD) && ctest --output-on-failure -j 1
	$(MAKE) check-asan

check-asan:
	cmake -S . -B $(ASAN_BUILD) -DSC_WERROR=ON -DSC_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug >/dev/null
	cmake --build $(ASAN_BUILD) -j $(JOBS)
	cd $(ASAN_BUILD) && ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
	  ctest --output-on-failure -j 1 -LE guest

clean:
	rm -rf $(BUILD) $(ASAN_BUILD)
