// SPDX-License-Identifier: MIT
// consumer.cpp: consumer.c's check from C++17, the last way
// `make installcheck` uses the installed library (t/installcheck.sh):
// <miowake.h> included from C++, the library linked by a C++ compiler.
// The poll and the waker are owned by std::unique_ptr.  It prints the
// same line as consumer.c, and exits 0 on success.
#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <string_view>

#include <miowake.h>

namespace {

struct poll_free {
    void operator()(mw_poll *p) const noexcept { mw_poll_free(p); }
};
struct waker_free {
    void operator()(mw_waker *w) const noexcept { mw_waker_free(w); }
};
using poll_ptr = std::unique_ptr<mw_poll, poll_free>;
using waker_ptr = std::unique_ptr<mw_waker, waker_free>;

constexpr mw_token token = 42;

int fail(std::string_view what, int error)
{
    std::fprintf(stderr, "consumer.cpp: %.*s: error %d\n",
                 static_cast<int>(what.size()), what.data(), error);
    return 1;
}

} // namespace

int main()
{
    const std::string header = std::to_string(MW_VERSION_MAJOR) + "."
        + std::to_string(MW_VERSION_MINOR) + "."
        + std::to_string(MW_VERSION_PATCH);
    if (std::string_view{mw_version()} != header) {
        std::fprintf(stderr, "consumer.cpp: <miowake.h> is %s, the library %s\n",
                     header.c_str(), mw_version());
        return 1;
    }

    mw_poll *raw_poll = nullptr;
    if (int r = mw_poll_new(&raw_poll); r < 0)
        return fail("mw_poll_new", r);
    poll_ptr poll{raw_poll};

    mw_waker *raw_waker = nullptr;
    if (int r = mw_waker_new(&raw_waker, poll.get(), token); r < 0)
        return fail("mw_waker_new", r);
    waker_ptr waker{raw_waker};

    if (int r = mw_waker_wake(waker.get()); r < 0)
        return fail("mw_waker_wake", r);

    std::array<mw_event, 4> events{};
    int n = mw_poll_wait(poll.get(), events.data(), events.size(), 5000);
    if (n < 0)
        return fail("mw_poll_wait", n);
    const auto [got_token, got_flags] = events[0];
    if (n != 1 || got_token != token || got_flags != MW_EV_READABLE) {
        std::fprintf(stderr, "consumer.cpp: mw_poll_wait: %d events, the "
                     "first token %lu flags %#x\n", n,
                     static_cast<unsigned long>(got_token),
                     static_cast<unsigned>(got_flags));
        return 1;
    }
    waker.reset();      // the waker first, as in consumer.c
    poll.reset();
    std::printf("backend=%s version=%s\n", mw_backend(), mw_version());
    return 0;
}
