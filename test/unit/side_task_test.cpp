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

TEST(SideTask, RunnableTasksFromLoadavg) {
    EXPECT_EQ(recsys::runnable_tasks("0.25 0.75 0.88 2/84 1901\n"), 2);
    EXPECT_EQ(recsys::runnable_tasks("12.00 9.50 7.25 17/1024 99"), 17);
    EXPECT_EQ(recsys::runnable_tasks("0.25 0.75 0.88"), -1);
    EXPECT_EQ(recsys::runnable_tasks("0.25 0.75 0.88 x/84 1901"), -1);
    EXPECT_EQ(recsys::runnable_tasks(""), -1);
}

TEST(SideTask, IdleCoreFollowsTheLoad) {
    // This test's own thread is runnable: with one CPU allowed there is never an idle core.
    cpu_set_t saved, one;
    ASSERT_EQ(sched_getaffinity(0, sizeof(saved), &saved), 0);
    CPU_ZERO(&one);
    for (int c = 0; c < CPU_SETSIZE; ++c)
        if (CPU_ISSET(c, &saved)) {
            CPU_SET(c, &one);
            break;
        }
    ASSERT_EQ(sched_setaffinity(0, sizeof(one), &one), 0);
    bool idle_with_one_cpu = recsys::idle_core();
    ASSERT_EQ(sched_setaffinity(0, sizeof(saved), &saved), 0);
    EXPECT_FALSE(idle_with_one_cpu);
}

}  // namespace
