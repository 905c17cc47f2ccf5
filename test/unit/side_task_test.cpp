// SideTask: the result, a thrown exception and the blocked signals of the second thread.
#include <gtest/gtest.h>

#include <csignal>
#include <numeric>
#include <stdexcept>
#include <thread>
#include <vector>

#include "core/side_task.hpp"

namespace {

TEST(SideTask, RunsAlongsideAndJoins) {
    std::vector<int> numbers(100000);
    std::iota(numbers.begin(), numbers.end(), 1);
    long long side_sum = 0;
    std::thread::id side_thread;
    recsys::SideTask task([&] {
        side_thread = std::this_thread::get_id();
        side_sum = std::accumulate(numbers.begin(), numbers.end(), 0LL);
    });
    long long own_sum = std::accumulate(numbers.rbegin(), numbers.rend(), 0LL);
    task.join();
    EXPECT_EQ(side_sum, own_sum);
    EXPECT_EQ(side_sum, 100000LL * 100001 / 2);
    EXPECT_NE(side_thread, std::this_thread::get_id());
}

TEST(SideTask, RethrowsOnJoin) {
    recsys::SideTask task([] { throw std::invalid_argument("side failed"); });
    EXPECT_THROW(
        {
            try {
                task.join();
            } catch (const std::invalid_argument& e) {
                EXPECT_STREQ(e.what(), "side failed");
                throw;
            }
        },
        std::invalid_argument);
}

TEST(SideTask, BlocksSignalsOnlyOnTheSideThread) {
    sigset_t before, side, after;
    pthread_sigmask(SIG_SETMASK, nullptr, &before);
    recsys::SideTask task([&] { pthread_sigmask(SIG_SETMASK, nullptr, &side); });
    task.join();
    pthread_sigmask(SIG_SETMASK, nullptr, &after);
    for (int signal : {SIGINT, SIGTERM, SIGUSR1, SIGUSR2, SIGALRM}) {
        EXPECT_EQ(sigismember(&side, signal), 1) << signal;
        EXPECT_EQ(sigismember(&after, signal), sigismember(&before, signal)) << signal;
    }
}

TEST(SideTask, DestructorWaitsWhenNotJoined) {
    bool finished = false;
    {
        recsys::SideTask task([&] {
            std::this_thread::sleep_for(std::chrono::milliseconds(20));
            finished = true;
        });
    }
    EXPECT_TRUE(finished);
}

TEST(SideTask, StartBesideRunsOnAnotherThread) {
    std::thread::id ran_on;
    auto task = [&] { ran_on = std::this_thread::get_id(); };
    std::unique_ptr<recsys::SideTask> side = recsys::start_beside(task);
    ASSERT_NE(side, nullptr);
    side->join();
    EXPECT_NE(ran_on, std::this_thread::get_id());
}

}  // namespace
