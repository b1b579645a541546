"""Fetching product pages: the only part of the package that opens URLs.

:mod:`.guard` decides which addresses may be contacted (never the private
network unless the config allows it), :mod:`.fetcher` fetches politely and within
bounds (rate per host, robots.txt, retries, size cap, run-time bound,
conditional requests), :mod:`.product_data` reads schema.org Product/Offer data
out of a page. What a page says is handed to :mod:`ops_sheets.domain.listings`
as plain facts.
"""
