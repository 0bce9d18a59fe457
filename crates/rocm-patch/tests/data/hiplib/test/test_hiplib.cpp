// Host-side unit test (no GPU needed): the launch size must cover every element.
#include "hiplib.h"
#include <cstdio>

int main()
{
    struct { size_t n; unsigned block, want; } cases[] = {{1000, 256, 4}, {1024, 256, 4}, {1, 256, 1}};
    int bad = 0;
    for(const auto& c : cases)
    {
        unsigned got = hiplib_blocks(c.n, c.block);
        if(got != c.want)
        {
            std::printf("hiplib_blocks(%zu, %u) = %u, want %u\n", c.n, c.block, got, c.want);
            bad = 1;
        }
    }
    return bad;
}
