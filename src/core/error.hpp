// Exceptions thrown by the core. The PostgreSQL layer maps each kind to an SQLSTATE.
#pragma once

#include <stdexcept>
#include <string>

namespace recsys {

// What went wrong, independent of PostgreSQL; src/pg maps it to an SQLSTATE.
enum class ErrorKind {
    invalid_parameter,  // a caller-supplied value is out of range or malformed (22023)
    invalid_text,       // text that cannot be parsed (22P02)
    cancelled,          // the cancel callback asked the core to stop (57014)
    internal            // a broken invariant inside the core (XX000)
};

// An error raised by the core, with an optional detail and hint for the user.
class Error : public std::runtime_error {
public:
    Error(ErrorKind kind, const std::string& message, std::string detail = {}, std::string hint = {})
        : std::runtime_error(message), kind_(kind), detail_(std::move(detail)), hint_(std::move(hint)) {}

    ErrorKind kind() const noexcept { return kind_; }
    const std::string& detail() const noexcept { return detail_; }
    const std::string& hint() const noexcept { return hint_; }

private:
    ErrorKind kind_;
    std::string detail_;
    std::string hint_;
};

// Throws an invalid_parameter error naming the offending parameter.
[[noreturn]] inline void throw_invalid(const std::string& message, std::string detail = {}, std::string hint = {}) {
    throw Error(ErrorKind::invalid_parameter, message, std::move(detail), std::move(hint));
}

}  // namespace recsys
