// CZstd: libzstd, the compressor of .vgpk tensor chunks.
#include <zstd.h>
#include <zstd_errors.h>
