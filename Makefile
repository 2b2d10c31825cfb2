# cnn.c — `make` builds build/cnn, build/libcnn.a and build/libcnn.so; `make test` runs the suite;
# `make demo` runs the main job. Missing Debian packages are installed first (tools/install-deps).

CC       ?= gcc
MULTIARCH := $(shell $(CC) -print-multiarch 2>/dev/null || echo x86_64-linux-gnu)
BLAS_INC := /usr/include/$(MULTIARCH)/openblas-openmp
BLAS_LIB := /usr/lib/$(MULTIARCH)/openblas-openmp
PREFIX   ?= /usr/local
B        ?= build

WARN     := -Wall -Wextra -Werror -Wshadow
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -fPIC -fopenmp -ffp-contract=off $(WARN) -Iinclude -I$(BLAS_INC) -I$(B)/gen
LDLIBS   := -L$(BLAS_LIB) -Wl,-rpath,$(BLAS_LIB) -lopenblas -lcjson -lpng -ljpeg -lz -lprotobuf-c -lpthread -lm -fopenmp
# ONNX's protobuf schema, from Debian's libonnx-dev: protoc-c generates its C code at build time.
ONNX_PROTO := /usr/include/onnx/onnx.proto
ASAN     := -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=undefined

LIB_SRC  := $(sort $(wildcard src/*/*.c))
CLI_SRC  := $(sort $(wildcard tools/cnn/*.c))
TEST_SRC := $(sort $(wildcard tests/test_*.c))
HEADERS  := include/cnn.h $(wildcard src/*/*.h)

GEN_C    := $(B)/gen/onnx.pb-c.c
GEN_H    := $(B)/gen/onnx.pb-c.h
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o) $(B)/obj/gen/onnx.pb-c.o
CLI_OBJ  := $(CLI_SRC:%.c=$(B)/obj/%.o)
TESTS    := $(TEST_SRC:tests/%.c=$(B)/tests/%)
EXAMPLES := $(patsubst examples/%.c,$(B)/examples/%,$(sort $(wildcard examples/*.c)))
ASAN_LIB_OBJ := $(LIB_SRC:%.c=$(B)/asan/obj/%.o) $(B)/asan/obj/gen/onnx.pb-c.o
ASAN_TESTS   := $(TEST_SRC:tests/%.c=$(B)/asan/tests/%)

# libFuzzer targets for the file readers (tests/fuzz/fuzz_*.c): the library built again by clang with
# the fuzzer's coverage hooks and the sanitizers, in $(B)/fuzz/ (`make fuzz`; tests/test_fuzz.sh runs them).
FUZZ_CC      := clang-14
FUZZ_CFLAGS  := -g -O1 -std=gnu11 -fPIC -fopenmp $(WARN) -Wno-pass-failed -Wno-unknown-pragmas -Iinclude -I$(BLAS_INC) -I$(B)/gen \
                -fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer
FUZZ_LIB_OBJ := $(LIB_SRC:%.c=$(B)/fuzz/obj/%.o) $(B)/fuzz/obj/gen/onnx.pb-c.o
FUZZERS      := $(patsubst tests/fuzz/%.c,$(B)/fuzz/%,$(sort $(wildcard tests/fuzz/fuzz_*.c)))

.PHONY: all deps-build test test-only demo install clean fuzz
# Keep the sanitizer objects between test links.
.SECONDARY: $(ASAN_LIB_OBJ) $(FUZZ_LIB_OBJ) $(GEN_C) $(GEN_H)
all: deps-build $(B)/cnn $(B)/libcnn.a $(B)/libcnn.so

# Build-time packages only; `make test` and `make demo` add what they need to run.
deps-build:
	@tools/install-deps build

$(B)/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(B)/asan/obj/%.o: %.c $(HEADERS)
	@mkdir -p $(dir $@)
	@echo "CC (asan) $<"
	@$(CC) $(CFLAGS) $(ASAN) -O1 -c $< -o $@

# The generated ONNX parser (built with the same flags as ours) and the reader that includes it.
$(GEN_C) $(GEN_H) &: $(ONNX_PROTO)
	@mkdir -p $(B)/gen
	protoc-c --c_out=$(B)/gen --proto_path=$(dir $(ONNX_PROTO)) $(ONNX_PROTO)

$(B)/obj/gen/onnx.pb-c.o: $(GEN_C) $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "CC $<"
	@$(CC) $(CFLAGS) -c $< -o $@

$(B)/asan/obj/gen/onnx.pb-c.o: $(GEN_C) $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "CC (asan) $<"
	@$(CC) $(CFLAGS) $(ASAN) -O1 -c $< -o $@

$(B)/fuzz/obj/gen/onnx.pb-c.o: $(GEN_C) $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "CC (fuzz) $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(B)/fuzz/obj/%.o: %.c $(HEADERS) $(GEN_H)
	@mkdir -p $(dir $@)
	@echo "CC (fuzz) $<"
	@$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link -c $< -o $@

$(B)/obj/src/io/onnx.o $(B)/asan/obj/src/io/onnx.o $(B)/obj/src/io/onnx_export.o $(B)/asan/obj/src/io/onnx_export.o: $(GEN_H)

# The AVX-512 kernels alone (our GEMM, Winograd's transforms, unfolding into panels) are compiled for
# AVX-512, and called only on a CPU that has it.
AVX512 := -mavx512f -mfma
AVX512_SRC := sgemm_avx512 winograd_avx512 winograd2_avx512 winograd1d_avx512 unfold_avx512 direct_avx512 pool_avx512
$(foreach f,$(AVX512_SRC),$(B)/obj/src/kernels/$(f).o $(B)/asan/obj/src/kernels/$(f).o): CFLAGS += $(AVX512)
$(foreach f,$(AVX512_SRC),$(B)/fuzz/obj/src/kernels/$(f).o): FUZZ_CFLAGS += $(AVX512)

$(B)/libcnn.a: $(LIB_OBJ)
	@rm -f $@
	ar rcs $@ $^

$(B)/libcnn.so: $(LIB_OBJ)
	$(CC) -shared -o $@ $^ $(LDLIBS)

$(B)/cnn: $(CLI_OBJ) $(LIB_OBJ)
	$(CC) -o $@ $^ $(LDLIBS)

$(B)/tests/%: tests/%.c tests/harness.c tests/harness.h $(LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -Itests -o $@ $< tests/harness.c $(LIB_OBJ) $(LDLIBS)

$(B)/examples/%: examples/%.c $(B)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libcnn.a $(LDLIBS)

$(B)/bench/%: bench/%.c $(B)/libcnn.a
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) -o $@ $< $(B)/libcnn.a $(LDLIBS)

$(B)/asan/tests/%: tests/%.c tests/harness.c tests/harness.h $(ASAN_LIB_OBJ)
	@mkdir -p $(dir $@)
	$(CC) $(CFLAGS) $(ASAN) -O1 -Itests -o $@ $< tests/harness.c $(ASAN_LIB_OBJ) $(LDLIBS)

fuzz: deps-build $(FUZZERS)

$(B)/fuzz/fuzz_%: tests/fuzz/fuzz_%.c $(FUZZ_LIB_OBJ)
	$(FUZZ_CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer -o $@ $< $(FUZZ_LIB_OBJ) $(LDLIBS)

# The three builds (plain, sanitizers, fuzzers) compile on every core (JOBS, default nproc).
JOBS ?= $(shell nproc 2>/dev/null || echo 2)
test:
	@tools/install-deps test
	@$(MAKE) --no-print-directory -j$(JOBS) test-only

test-only: all $(TESTS) $(ASAN_TESTS) $(EXAMPLES) $(FUZZERS) $(B)/bench/conv_layer
	@B=$(B) tests/run.sh

demo:
	@tools/install-deps demo
	@$(MAKE) --no-print-directory all
	@B=$(B) tools/demo.sh

install: all
	install -d $(DESTDIR)$(PREFIX)/bin $(DESTDIR)$(PREFIX)/lib $(DESTDIR)$(PREFIX)/include $(DESTDIR)$(PREFIX)/lib/pkgconfig
	install -m 755 $(B)/cnn $(DESTDIR)$(PREFIX)/bin/cnn
	install -m 644 $(B)/libcnn.a $(B)/libcnn.so $(DESTDIR)$(PREFIX)/lib/
	install -m 644 include/cnn.h $(DESTDIR)$(PREFIX)/include/cnn.h
	sed -e 's|@PREFIX@|$(PREFIX)|g' -e 's|@BLAS_LIB@|$(BLAS_LIB)|g' tools/cnn.pc.in > $(DESTDIR)$(PREFIX)/lib/pkgconfig/cnn.pc

clean:
	rm -rf build
