/*
 * peer_opencv.cpp - the peer baseline: OpenCV img_hash PHash (64 bits) of
 * every image in a record file, for bench_accuracy.
 *
 *   peer_opencv RECORDS
 *
 * RECORDS holds images back to back, each as a 4-byte little-endian length
 * and the encoded bytes.  Output (stdout): one line per image, 16 hex digits
 * (the 8 bytes in the order img_hash stores them) or "-" when OpenCV cannot
 * decode it, then that image's cv::imdecode and PHash::compute times in ms;
 * then a last line
 *   # n=N decode_ms=MEDIAN hash_ms=MEDIAN
 * with per-image medians of cv::imdecode and of PHash::compute.
 * Single-threaded (cv::setNumThreads(1)), like hallmark's per-image path.
 */
#include <opencv2/core.hpp>
#include <opencv2/imgcodecs.hpp>
#include <opencv2/img_hash.hpp>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <vector>

static double s_median(std::vector<double> v)
{
    if (v.empty())
        return 0;
    std::sort(v.begin(), v.end());
    size_t n = v.size();
    return n & 1 ? v[n / 2] : 0.5 * (v[n / 2 - 1] + v[n / 2]);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        std::fprintf(stderr, "usage: peer_opencv RECORDS\n");
        return 2;
    }
    std::FILE *f = std::fopen(argv[1], "rb");
    if (!f) {
        std::perror(argv[1]);
        return 1;
    }
    cv::setNumThreads(1);
    auto hasher = cv::img_hash::PHash::create();
    std::vector<double> dec_ms, hash_ms;
    std::vector<uint8_t> buf;
    uint8_t hdr[4];
    while (std::fread(hdr, 1, 4, f) == 4) {
        uint32_t len = hdr[0] | hdr[1] << 8 | hdr[2] << 16 | (uint32_t)hdr[3] << 24;
        buf.resize(len);
        if (std::fread(buf.data(), 1, len, f) != len) {
            std::fprintf(stderr, "peer_opencv: truncated record file\n");
            return 1;
        }
        auto t0 = std::chrono::steady_clock::now();
        cv::Mat img = cv::imdecode(buf, cv::IMREAD_COLOR);
        auto t1 = std::chrono::steady_clock::now();
        if (img.empty()) {
            std::puts("- 0 0");
            continue;
        }
        cv::Mat h;
        hasher->compute(img, h);
        auto t2 = std::chrono::steady_clock::now();
        dec_ms.push_back(std::chrono::duration<double, std::milli>(t1 - t0).count());
        hash_ms.push_back(std::chrono::duration<double, std::milli>(t2 - t1).count());
        for (int i = 0; i < h.cols; i++)
            std::printf("%02x", h.at<uint8_t>(0, i));
        std::printf(" %.4f %.4f\n", dec_ms.back(), hash_ms.back());
    }
    std::fclose(f);
    std::printf("# n=%zu decode_ms=%.4f hash_ms=%.4f\n", dec_ms.size(), s_median(dec_ms),
                s_median(hash_ms));
    return 0;
}
