// Transparent huge pages for the cached catalogue (see huge_pages.hpp).
#include "core/huge_pages.hpp"

#include <cstdio>
#include <fstream>
#include <sstream>

#if defined(__linux__)
#include <sys/mman.h>
#ifndef MADV_COLLAPSE
#define MADV_COLLAPSE 25  // Linux 6.1; older C library headers lack it
#endif
#endif

namespace recsys {

namespace {

constexpr uintptr_t huge_page = uintptr_t{2} << 20;

}  // namespace

std::vector<AddressRange> huge_page_candidates(const std::string& maps, size_t min_bytes) {
    std::vector<AddressRange> ranges;
    std::istringstream lines(maps);
    std::string line;
    while (std::getline(lines, line)) {
        unsigned long long begin = 0, end = 0, offset = 0, inode = 0;
        char perms[8] = {0}, device[32] = {0};
        int path_at = 0;
        if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %31s %llu %n", &begin, &end, perms, &offset, device, &inode,
                        &path_at) < 6)
            continue;
        std::string path = path_at > 0 && static_cast<size_t>(path_at) <= line.size() ? line.substr(static_cast<size_t>(path_at)) : "";
        // Private and writable, backed by no file: the heap or an anonymous mapping.
        bool anonymous = inode == 0 && (path.empty() || path == "[heap]");
        if (std::string(perms) != "rw-p" || !anonymous || end - begin < min_bytes) continue;
        uintptr_t from = (static_cast<uintptr_t>(begin) + huge_page - 1) & ~(huge_page - 1);
        uintptr_t to = static_cast<uintptr_t>(end) & ~(huge_page - 1);
        if (to > from) ranges.push_back({from, to});
    }
    return ranges;
}

size_t back_with_huge_pages(size_t min_bytes) {
#if defined(__linux__)
    std::ifstream file("/proc/self/maps");
    if (!file) return 0;
    std::stringstream text;
    text << file.rdbuf();
    size_t advised = 0;
    for (const AddressRange& range : huge_page_candidates(text.str(), min_bytes)) {
        void* at = reinterpret_cast<void*>(range.begin);
        size_t length = range.end - range.begin;
        if (madvise(at, length, MADV_HUGEPAGE) != 0) continue;
        advised += length;
        (void) madvise(at, length, MADV_COLLAPSE);
    }
    return advised;
#else
    (void) min_bytes;
    return 0;
#endif
}

}  // namespace recsys
