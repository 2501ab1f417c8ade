//! Published address lists (GitHub's meta API, Fastly's public IP list).
