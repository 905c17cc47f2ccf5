// Transparent huge pages for the cached catalogue. Serving reads ~2,000 scattered items of a
// catalogue of hundreds of megabytes per request (attributes, embeddings, factors, co-visitation
// lists, hash-table nodes): with 4 KiB pages nearly every read also misses the TLB. On systems
// where transparent huge pages are only given on request (the "madvise" mode, Debian's default),
// back_with_huge_pages asks for them over the process's large private memory once the catalogue
// is loaded, and collapses what is already there. Linux only; elsewhere it does nothing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace recsys {

// A range of addresses [begin, end).
struct AddressRange {
    uintptr_t begin;
    uintptr_t end;
};

// The 2 MiB-aligned parts of the private, writable, anonymous mappings (the malloc heap among
// them) of at least `min_bytes` in `maps`, a /proc/<pid>/maps text: what may become huge pages.
std::vector<AddressRange> huge_page_candidates(const std::string& maps, size_t min_bytes);

// Advises the kernel to use huge pages for huge_page_candidates of this process and collapses
// the ranges already populated (MADV_COLLAPSE, Linux 6.1 and later; ignored where refused).
// Returns the bytes advised.
size_t back_with_huge_pages(size_t min_bytes);

}  // namespace recsys
