// A task run on a second thread while the calling thread goes on, for independent parts of one
// request (serving's embedding and collaborative candidate sources). The task must only read
// what the calling thread does not write meanwhile. The thread starts with every signal blocked:
// in a PostgreSQL backend the server's signal handlers must run on the backend's own thread.
// A second thread only pays when a core would otherwise stay idle: idle_core() tells.
#pragma once

#include <csignal>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <memory>
#include <system_error>
#include <thread>
#include <utility>

#include <fcntl.h>
#include <pthread.h>
#include <sched.h>
#include <unistd.h>

namespace recsys {

class SideTask {
public:
    // Starts `task` on its own thread.
    template <typename Task>
    explicit SideTask(Task&& task) {
        sigset_t all, previous;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &previous);  // the new thread inherits the mask
        try {
            thread_ = std::thread([this, body = std::forward<Task>(task)]() mutable {
                try {
                    body();
                } catch (...) {
                    error_ = std::current_exception();
                }
            });
        } catch (...) {
            pthread_sigmask(SIG_SETMASK, &previous, nullptr);
            throw;
        }
        pthread_sigmask(SIG_SETMASK, &previous, nullptr);
    }
    SideTask(const SideTask&) = delete;
    SideTask& operator=(const SideTask&) = delete;

    // Waits for the task; rethrows what it threw.
    void join() {
        thread_.join();
        if (error_) std::rethrow_exception(error_);
    }

    // Waits for a task not joined (the caller is leaving by an exception).
    ~SideTask() {
        if (thread_.joinable()) thread_.join();
    }

private:
    std::thread thread_;
    std::exception_ptr error_;
};

// The number of runnable tasks in a /proc/loadavg line ("0.25 0.75 0.88 2/84 1901": 2), or -1.
inline int runnable_tasks(const char* loadavg) {
    const char* p = loadavg;
    for (int field = 0; field < 3; ++field) {
        p = std::strchr(p, ' ');
        if (p == nullptr) return -1;
        ++p;
    }
    char* end = nullptr;
    long running = std::strtol(p, &end, 10);
    return end != p && *end == '/' ? static_cast<int>(running) : -1;
}

// Whether fewer tasks are runnable system-wide (the caller included) than this process may use
// CPUs, so that a second thread would run on a core that is otherwise idle. Reads /proc/loadavg
// (a few microseconds; kept open); false when it cannot be read.
inline bool idle_core() {
    static int fd = open("/proc/loadavg", O_RDONLY | O_CLOEXEC);
    if (fd < 0) return false;
    char line[128];
    ssize_t n = pread(fd, line, sizeof(line) - 1, 0);
    if (n <= 0) return false;
    line[n] = '\0';
    cpu_set_t cpus;
    if (sched_getaffinity(0, sizeof(cpus), &cpus) != 0) return false;
    int running = runnable_tasks(line);
    return running >= 0 && running < CPU_COUNT(&cpus);
}

// Starts `task` on a second thread and returns it for the caller to join, or, when the system
// cannot start a thread (its thread limit), runs the task here and returns nullptr.
template <typename Task>
std::unique_ptr<SideTask> start_beside(Task& task) {
    try {
        return std::make_unique<SideTask>(task);
    } catch (const std::system_error&) {
        task();
        return nullptr;
    }
}

}  // namespace recsys
