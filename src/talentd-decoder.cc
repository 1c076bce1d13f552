// talentd-decoder — the decoder zygote of a talentd worker (talentd(8),
// SECURITY).  Not a command: each worker starts it with the single argument
// --decoder-zygote and descriptor 3 its socket.
//
// A program of its own so that the process a decoder is forked from maps
// only the codec libraries (libjpeg, libpng, giflib, libwebp), libseccomp
// and the C++ runtime, not libs3, libcurl, OpenSSL, SQLite...: fork copies
// fewer mappings, so a picture costs less, and a decoder that is taken over
// finds less code to reuse.
#include <cstdio>
#include <cstring>

#include "image/decoder_process.h"

int main(int argc, char** argv) {
    if (argc == 2 && std::strcmp(argv[1], talentd::image::kZygoteArgument) == 0)
        return talentd::image::run_decoder_zygote(talentd::image::kZygoteFd);
    std::fprintf(stderr, "talentd-decoder is started by talentd's workers, not by hand: see talentd(8), SECURITY\n");
    return 64;
}
