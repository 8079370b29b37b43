"""gunicorn's settings, read from the working directory. The access log leaves out the query
string and the referer: an API key sent in a URL (refused with 400) must not reach a log."""

access_log_format = '%(h)s %(l)s %(t)s "%(m)s %(U)s %(H)s" %(s)s %(b)s %(L)s "%(a)s"'
