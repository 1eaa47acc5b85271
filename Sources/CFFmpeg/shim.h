// CFFmpeg: libavcodec / libavformat / libswscale / libavutil for video files in and out.
#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libswscale/swscale.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libavutil/error.h>

// FFmpeg's error macros are expressions Swift cannot import; these inline functions can be.
static inline int vg_averror_eof(void) { return AVERROR_EOF; }
static inline int vg_averror_eagain(void) { return AVERROR(EAGAIN); }
static inline int vg_averror_einval(void) { return AVERROR(EINVAL); }
