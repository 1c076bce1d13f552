// Egress check — does the egress proxy leave s3_timeout as the one deadline?
//
// talentd abandons every store call at s3_timeout.  The egress proxy
// (nginx/talentd-egress.conf) has deadlines of its own: proxy_send_timeout
// and proxy_read_timeout (the longest silence between two writes or reads)
// and proxy_next_upstream_timeout.  If one of them is not longer than
// s3_timeout, a silent store is answered by the proxy's 504 instead, at a
// time the operator did not configure in talentd.  So the proxy's must be
// longer: then s3_timeout is the deadline that fires, and the proxy's only
// catch a talentd that went away.  (proxy_connect_timeout may be shorter: a
// store that takes no connection is answered 502/504 marked
// <Egress>no-connection</Egress>, which talentd knows wrote nothing.)
//
// talentd -t, talentctl check and talentd's start read the file named by
// s3_egress_config.  Only the three directives are looked at, wherever they
// appear; a directive that is absent has nginx's default (60 s; none for
// proxy_next_upstream_timeout).
#pragma once

#include <optional>
#include <string>

namespace talentd::storage {

// An nginx time ("15", "15s", "500ms", "1m", "1m30s") in milliseconds;
// nullopt when malformed.
std::optional<long long> parse_nginx_time(const std::string& text);

// Checks the text of the egress proxy's nginx file against s3_timeout
// (seconds).  false with *why naming the directive, its value and what it
// must be.
bool check_egress_timeouts(const std::string& nginx_text, int s3_timeout, std::string* why);

// Reads `path` and checks it; false with *why if unreadable or wrong.
bool check_egress_file(const std::string& path, int s3_timeout, std::string* why);

}  // namespace talentd::storage
