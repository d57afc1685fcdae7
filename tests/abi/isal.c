/* The layout that isal-sys's bindings (generated from isa-l 2.31) assume, checked against
 * the system's igzip_lib.h (Debian ships 2.30): tests/run-all.sh compiles this before it
 * builds the `isal` feature, and a mismatch stops the build. The numbers are bindgen's,
 * from isal-sys's src/igzip_lib.rs; src/copy/pgzip/igzip.rs uses these fields. */
#include <stddef.h>
#include <isa-l/igzip_lib.h>
#define SAME(x, n) _Static_assert((x) == (n), #x " differs from isal-sys's bindings")
SAME(sizeof(struct isal_zstream), 82384);
SAME(_Alignof(struct isal_zstream), 8);
SAME(offsetof(struct isal_zstream, next_in), 0);
SAME(offsetof(struct isal_zstream, avail_in), 8);
SAME(offsetof(struct isal_zstream, next_out), 16);
SAME(offsetof(struct isal_zstream, avail_out), 24);
SAME(offsetof(struct isal_zstream, total_out), 28);
SAME(offsetof(struct isal_zstream, level), 40);
SAME(offsetof(struct isal_zstream, level_buf_size), 44);
SAME(offsetof(struct isal_zstream, level_buf), 48);
SAME(offsetof(struct isal_zstream, end_of_stream), 56);
SAME(offsetof(struct isal_zstream, flush), 58);
SAME(offsetof(struct isal_zstream, gzip_flag), 60);
SAME(offsetof(struct isal_zstream, internal_state), 64);
SAME(sizeof(struct isal_zstate), 82320);
SAME(ISAL_DEF_LVL1_DEFAULT, 282624);
SAME(ISAL_DEF_LVL2_DEFAULT, 331776);
SAME(ISAL_DEF_LVL3_DEFAULT, 348160);
SAME(IGZIP_GZIP, 1);
SAME(NO_FLUSH, 0);
SAME(COMP_OK, 0);
