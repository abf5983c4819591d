"""Which SERVICE endpoints a query may call: found lexically, then checked against the allow-list."""

import pytest

from kgrel.kg.federation import ServiceRefused, check_services, service_targets

PUBLIC = "https://93.184.216.34/sparql"  # an address literal: checking it needs no DNS and sends nothing


def test_service_targets_are_found_in_any_case_and_only_outside_strings_iris_and_comments():
    query = ('PREFIX p: <http://x/> SELECT * { ?s ?p "SERVICE <http://a/>" . # SERVICE <http://b/>\n'
             '  service silent <http://c/> { } SERVICE ?v { } SERVICE p:q { } ?service <urn:SERVICE> ?o }')
    assert service_targets(query) == ["<http://c/>", "?v", "p:q"]


def test_off_by_default():
    with pytest.raises(ServiceRefused, match="turned off"):
        check_services(f"SELECT * {{ SERVICE <{PUBLIC}> {{ }} }}", ())
    check_services("SELECT * { ?s ?p ?o }", ())  # no SERVICE: nothing to refuse


def test_allow_listed_public_endpoint_passes():
    check_services(f"SELECT * {{ SERVICE <{PUBLIC}> {{ ?s ?p ?o }} }}", ("https://93.184.216.34/",))


@pytest.mark.parametrize("target", ["http://127.0.0.1:8000/sparql", "http://169.254.169.254/latest/",
                                    "http://10.0.0.5/sparql", "http://[::1]/sparql", "file:///etc/passwd",
                                    "http://localhost/sparql"])
def test_never_loopback_private_link_local_or_file_even_when_allow_listed(target):
    with pytest.raises(ServiceRefused):
        check_services(f"SELECT * {{ SERVICE <{target}> {{ }} }}", (target,))


def test_other_endpoints_variables_and_prefixed_names_are_refused():
    allowed = ("https://93.184.216.34/",)
    with pytest.raises(ServiceRefused, match="not an allowed endpoint"):
        check_services("SELECT * { SERVICE <https://8.8.8.8/sparql> { } }", allowed)
    with pytest.raises(ServiceRefused, match="full <IRI>"):
        check_services("SELECT * { SERVICE ?endpoint { } }", allowed)
