// Unit tests of the choice of ranges for transparent huge pages.
#include <gtest/gtest.h>

#include <fstream>
#include <string>

#include "core/huge_pages.hpp"

TEST(HugePages, ChoosesTheAlignedPartsOfLargePrivateAnonymousMappings) {
    const std::string maps =
        "55d0c0000000-55d0c0a00000 rw-p 00000000 00:00 0                          [heap]\n"
        "7f0000100000-7f0000900000 rw-p 00000000 00:00 0 \n"
        "7f0001000000-7f0001100000 rw-p 00000000 00:00 0 \n"
        "7f0002000000-7f0003000000 rw-s 00000000 00:01 1234                       /dev/zero (deleted)\n"
        "7f0004000000-7f0005000000 r-xp 00000000 08:01 5678                       /usr/lib/libLLVM.so\n"
        "7f0006000000-7f0007000000 rw-p 00000000 08:01 5678                       /usr/lib/libLLVM.so\n"
        "7f0008000000-7f0008500000 r--p 00000000 00:00 0 \n"
        "not a mapping line\n";
    auto ranges = recsys::huge_page_candidates(maps, size_t{4} << 20);
    // The heap (10 MiB, aligned) and the 8 MiB anonymous mapping, cut to 2 MiB boundaries; not
    // the 1 MiB one, the shared one, the file-backed ones or the read-only one.
    ASSERT_EQ(ranges.size(), 2u);
    EXPECT_EQ(ranges[0].begin, 0x55d0c0000000u);
    EXPECT_EQ(ranges[0].end, 0x55d0c0a00000u);
    EXPECT_EQ(ranges[1].begin, 0x7f0000200000u);
    EXPECT_EQ(ranges[1].end, 0x7f0000800000u);
    EXPECT_TRUE(recsys::huge_page_candidates(maps, size_t{64} << 20).empty());
}

TEST(HugePages, SkipsMappingsWithoutAWholeHugePage) {
    // Nearly 3 MiB from 1 MiB on cross the 2 MiB boundary but hold no whole aligned 2 MiB page.
    auto ranges = recsys::huge_page_candidates("7f0000100000-7f00003ff000 rw-p 00000000 00:00 0 \n", 0);
    EXPECT_TRUE(ranges.empty());
}

TEST(HugePages, AdvisesTheLargeMappingsOfThisProcess) {
    if (std::ifstream("/sys/kernel/mm/transparent_hugepage/enabled").fail())
        GTEST_SKIP() << "this kernel has no transparent huge pages";
    // A 16 MiB allocation is a mapping of its own: at least 14 MiB of it are whole huge pages.
    std::string big(size_t{16} << 20, 'x');
    EXPECT_GE(recsys::back_with_huge_pages(size_t{8} << 20), size_t{14} << 20);
    EXPECT_EQ(big[big.size() - 1], 'x');  // the memory is untouched
}
