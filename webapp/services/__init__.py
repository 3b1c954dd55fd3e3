"""The service layer: every rule of Roster, called alike by the web, the API and the CLI.

Services take plain values and a named actor and interface (``via``), raise the domain errors
of ``errors``, and own their transaction. They never touch the request.
"""
