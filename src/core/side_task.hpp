// A task run on a second thread while the calling thread goes on, for independent parts of one
// request (serving's embedding and collaborative candidate sources). The task must only read
// what the calling thread does not write meanwhile. The thread starts with every signal blocked:
// in a PostgreSQL backend the server's signal handlers must run on the backend's own thread.
#pragma once

#include <csignal>
#include <exception>
#include <memory>
#include <pthread.h>
#include <system_error>
#include <thread>
#include <utility>

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
