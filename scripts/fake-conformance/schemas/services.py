"""One checker per logged service: which description it is held to, how a logged response maps
to a described operation, and the commented list of endpoints no description covers."""

from __future__ import annotations

import os
import re

from common import Outcome, undescribed
from schema import validate

# The pinned versions; check.sh installs exactly these.
VERSIONS = {
    "@octokit/openapi": "23.0.2",
    "@octokit/graphql-schema": "15.26.1",
    "@okta/okta-sdk-nodejs": "8.1.0",
    "google-api-python-client": "2.202.0",
    "google-cloud-securitycenter": "1.48.0",
    "botocore": "1.44.18",
    "azure-mgmt-security": "7.0.0",
    "azure-mgmt-resource": "23.1.1",
}


class GitHub:
    # Endpoints the REST description does not cover.
    UNDESCRIBED = {
        # The browser install page (HTML and a redirect to the app's Setup URL), not REST.
        ("GET", "/apps/{slug}/installations/new"): "browser install page",
    }
    # Statuses GitHub answers on any REST operation though few operations declare them: 401 for
    # bad credentials and 403/429 for the primary and secondary rate limits (GitHub's docs
    # "Troubleshooting the REST API" and "Rate limits"), all with the basic error body. A 404
    # the description declares without content (secret scanning off) has that body too.
    GENERIC = {401: "basic-error", 403: "basic-error", 404: "basic-error", 429: "basic-error"}

    def __init__(self, root: str):
        from graphql import GraphQlSchema
        from openapi import OpenApi

        path = os.path.join(root, "node_modules/@octokit/openapi/generated/api.github.com.json")
        self.api = OpenApi(path)
        self.graphql = GraphQlSchema(os.path.join(root, "node_modules/@octokit/graphql-schema/schema.json"))
        self.source = (f"@octokit/openapi {VERSIONS['@octokit/openapi']} api.github.com.json and "
                       f"@octokit/graphql-schema {VERSIONS['@octokit/graphql-schema']}")

    def check(self, entry: dict) -> Outcome:
        # GitHub Enterprise Server serves the same API under /api/v3.
        path = re.sub(r"^/api/v3(?=/)", "", entry["path"])
        reason = undescribed(self.UNDESCRIBED, entry["method"], path)
        if reason:
            return Outcome(reason, undescribed=True)
        if entry["method"] == "POST" and path == "/graphql" and entry["status"] == 200:
            return self.graphql.check(entry)
        if entry["method"] == "POST" and path == "/graphql":
            # GraphQL's refusals before the query runs (credentials, rate limits) are REST's.
            return Outcome("POST /graphql", self.api.body_errors(entry, {"$ref": "#/components/schemas/basic-error"}))
        return self.api.check(dict(entry, path=path), self.GENERIC)

    def self_test(self):
        token = {"token": 5, "expires_at": "2030-01-01T00:00:00Z", "invented": True}
        yield self.check(_entry("POST", "/app/installations/1/access_tokens", 201, token))
        yield self.check(_entry("GET", "/repos/o/r/dependabot/alerts", 200, [{"number": 1}]))
        yield self.check(_entry("GET", "/nowhere", 200, {}))
        members = {"membersWithRole": {"edges": [{"role": "OWNER"}], "nodes": [{"login": "a", "invented": 1}],
                                       "totalCount": "2"}}
        yield self.check(_entry("POST", "/graphql", 200, {"data": {"organization": members}}))

    def known_good(self):
        body = {"message": "Bad credentials", "documentation_url": "https://docs.github.com/rest"}
        yield self.check(_entry("GET", "/installation/repositories", 401, body))
        members = {"membersWithRole": {"edges": [{"role": "ADMIN"}], "nodes": [{"login": "a", "databaseId": 1}],
                                       "pageInfo": {"hasNextPage": False, "endCursor": None}, "totalCount": 1}}
        yield self.check(_entry("POST", "/graphql", 200, {"data": {"organization": members}}))


class GoogleWorkspace:
    UNDESCRIBED = {
        # Google's OAuth 2.0 endpoints have no discovery document (RFC 6749/7517 shapes).
        ("POST", "/token"): "OAuth 2.0 token endpoint",
        ("GET", "/o/oauth2/v2/auth"): "OAuth 2.0 authorization endpoint",
        ("GET", "/oauth2/v3/certs"): "JWKS",
    }
    DOCS = ["admin.directory_v1"]

    def __init__(self, root: str):
        from google import Discovery

        base = os.path.join(root, "site-packages/googleapiclient/discovery_cache/documents")
        self.apis = [Discovery(os.path.join(base, name + ".json")) for name in self.DOCS]
        self.source = f"google-api-python-client {VERSIONS['google-api-python-client']} " + ", ".join(self.DOCS)

    def check(self, entry: dict) -> Outcome:
        reason = undescribed(self.UNDESCRIBED, entry["method"], entry["path"])
        if reason:
            return Outcome(reason, undescribed=True)
        for api in self.apis:
            found = api.find(entry["method"], entry["path"])
            if found:
                return api.check(entry, found)
        return Outcome(None, ["no described operation for this method and path"])

    def self_test(self):
        user = {"kind": "admin#directory#user", "primaryEmail": 3, "invented": "x"}
        yield self.check(_entry("GET", "/admin/directory/v1/users", 200, {"users": [user]}))
        yield self.check(_entry("GET", "/admin/directory/v1/users", 403, {"error": {"code": 403}}))

    def known_good(self):
        yield self.check(_entry("GET", "/admin/directory/v1/users", 200, {"kind": "admin#directory#users", "users": []}))
        error = {"code": 403, "message": "Not Authorized to access this resource/api",
                 "errors": [{"message": "Not Authorized to access this resource/api", "domain": "global",
                             "reason": "forbidden"}]}
        yield self.check(_entry("GET", "/admin/directory/v1/groups", 403, {"error": error}))


class Aws:
    """STS (query protocol, XML), Security Hub and Audit Manager (rest-json) on one fake."""

    MODELS = {
        "sts": "sts/2011-06-15",
        "securityhub": "securityhub/2018-10-26",
        "auditmanager": "auditmanager/2017-07-25",
    }

    def __init__(self, root: str):
        from aws import Model

        base = os.path.join(root, "site-packages/botocore/data")
        self.models = {name: Model(os.path.join(base, path, "service-2.json")) for name, path in self.MODELS.items()}
        self.source = f"botocore {VERSIONS['botocore']} " + ", ".join(self.MODELS.values())

    def check(self, entry: dict) -> Outcome:
        # AWS routes by host; the fake serves every service on one host, where STS alone is
        # `POST /` with a form and answers XML.
        if entry["method"] == "POST" and entry["path"] == "/" and "xml" in (entry["contentType"] or ""):
            return self.models["sts"].check_query(entry)
        for name in ("securityhub", "auditmanager"):
            model = self.models[name]
            found = model.find(entry["method"], entry["path"])
            if found:
                return model.check_rest_json(entry, found)
        return Outcome(None, ["no described operation for this method and path"])

    def self_test(self):
        yield self.check(_entry("POST", "/findings", 200, {"Findings": [{"Id": 1}], "Invented": 1}))
        yield self.check(_entry("GET", "/accounts", 401, {"Message": "x", "Invented": "y"}))
        ns = 'xmlns="https://sts.amazonaws.com/doc/2011-06-15/"'
        xml = (f"<GetCallerIdentityResponse {ns}><GetCallerIdentityResult><Arn>a</Arn><Invented>1</Invented>"
               "</GetCallerIdentityResult><ResponseMetadata><RequestId>r</RequestId></ResponseMetadata>"
               "</GetCallerIdentityResponse>")
        yield self.check(dict(_entry("POST", "/", 200, xml), contentType="text/xml"))
        error = f"<ErrorResponse {ns}><Error><Code>MadeUp</Code></Error></ErrorResponse>"
        yield self.check(dict(_entry("POST", "/", 403, error), contentType="text/xml"))

    def known_good(self):
        ns = 'xmlns="https://sts.amazonaws.com/doc/2011-06-15/"'
        xml = (f"<GetCallerIdentityResponse {ns}><GetCallerIdentityResult><Arn>arn:aws:iam::1:user/a</Arn>"
               "<UserId>AIDA</UserId><Account>1</Account></GetCallerIdentityResult><ResponseMetadata>"
               "<RequestId>r</RequestId></ResponseMetadata></GetCallerIdentityResponse>")
        yield self.check(dict(_entry("POST", "/", 200, xml), contentType="text/xml"))
        error = (f"<ErrorResponse {ns}><Error><Type>Sender</Type><Code>AccessDenied</Code><Message>no</Message>"
                 "</Error><RequestId>r</RequestId></ErrorResponse>")
        yield self.check(dict(_entry("POST", "/", 403, error), contentType="text/xml"))
        yield self.check(_entry("POST", "/findings", 200, {"Findings": []}))


class AzureArm:
    """Azure Resource Manager for Defender for Cloud. The source is the Azure SDK for Python's
    generated msrest models (see azure.py), one folder per api-version, so the table below maps
    each route the fake serves to its api-version's folder and the model class of its answer, by
    hand, as the SDK's operation code names them (e.g. `AssessmentsOperations.list` deserializes
    "SecurityAssessmentList")."""

    # (method, path template) -> (package folder, api-version, list model, error body model)
    ROUTES = {
        ("GET", "/subscriptions"): (
            "resource/subscriptions/v2022_12_01", "2022-12-01", "SubscriptionListResult", "ErrorResponse"),
        ("GET", "/subscriptions/{sub}/providers/Microsoft.Security/assessments"): (
            "security/v2021_06_01", "2021-06-01", "SecurityAssessmentList", "CloudErrorBody"),
        ("GET", "/subscriptions/{sub}/providers/Microsoft.Security/assessmentMetadata"): (
            "security/v2021_06_01", "2021-06-01", "SecurityAssessmentMetadataResponseList", "CloudErrorBody"),
        ("GET", "/subscriptions/{sub}/providers/Microsoft.Security/subAssessments"): (
            "security/v2019_01_01_preview", "2019-01-01-preview", "SecuritySubAssessmentList", "CloudErrorBody"),
    }
    # Where the description contradicts ARM's documented behaviour, each with its reason:
    # (package folder, model, property) -> why the property is optional after all.
    NOT_REQUIRED = {
        # The swagger marks nextLink required, but ARM's paging contract (and every real last
        # page of the subscription list) leaves it out when there is no further page.
        ("resource/subscriptions/v2022_12_01", "SubscriptionListResult", "nextLink"):
            "ARM omits nextLink on the last page",
    }
    # Properties the description declares but ARM sends only when `$expand` asks for them: the
    # assessment's `$expand` (ExpandEnum: links, metadata) exists only on the single-assessment
    # GET (`AssessmentsOperations.get`), so the list never carries them.
    EXPAND_ONLY = {
        "/subscriptions/{sub}/providers/Microsoft.Security/assessments": ["metadata", "links"],
    }
    UNDESCRIBED = {
        # The Microsoft identity platform's OAuth 2.0 endpoints, served by the same fake: no ARM
        # description covers them (the microsoft_login fake is held to its own check).
        ("POST", "/{tenant}/oauth2/v2.0/token"): "Entra OAuth 2.0 token endpoint",
        ("GET", "/{tenant}/oauth2/v2.0/authorize"): "Entra OAuth 2.0 authorization endpoint",
        ("GET", "/{tenant}/discovery/v2.0/keys"): "Entra JWKS",
    }

    def __init__(self, root: str):
        from azure import Models
        from common import template_regex

        base = os.path.join(root, "site-packages/azure/mgmt")
        self.models = {}
        self.routes = []
        for (method, template), (folder, version, model, error) in self.ROUTES.items():
            if folder not in self.models:
                self.models[folder] = Models(os.path.join(base, folder, "models/_models_py3.py"), folder)
            self.routes.append((method, template_regex(template), template, folder, version, model, error))
        for (folder, model, prop) in self.NOT_REQUIRED:
            schema = self.models[folder].schemas.lookup(model)
            schema["required"] = [name for name in schema["required"] if name != prop]
        self.source = (f"azure-mgmt-security {VERSIONS['azure-mgmt-security']} and azure-mgmt-resource "
                       f"{VERSIONS['azure-mgmt-resource']} generated models ({', '.join(sorted(self.models))})")

    def check(self, entry: dict) -> Outcome:
        reason = undescribed(self.UNDESCRIBED, entry["method"], entry["path"])
        if reason:
            return Outcome(reason, undescribed=True)
        for method, regex, template, folder, version, model, error in self.routes:
            if method != entry["method"] or not regex.match(entry["path"]):
                continue
            models = self.models[folder]
            name = f"{entry['method']} {template} ({version})"
            errors = []
            query = dict(p.split("=", 1) for p in (entry["query"] or "").split("&") if "=" in p)
            if entry["status"] < 400 and query.get("api-version") != version:
                errors.append(f"api-version {query.get('api-version')!r}, the description is {version}")
            if entry["status"] >= 400:
                # ARM's error envelope: {"error": <the api-version's error body model>}.
                schema = {"type": "object", "required": ["error"], "additional": None,
                          "properties": {"error": {"ref": error}}}
            elif entry["status"] == 200:
                schema = {"ref": model}
            else:
                return Outcome(name, [f"status {entry['status']}: a list answers 200"])
            errors += validate(entry["body"], schema, models.schemas)
            if entry["status"] == 200 and isinstance(entry["body"], dict):
                for index, item in enumerate(entry["body"].get("value") or []):
                    properties = item.get("properties") if isinstance(item, dict) else None
                    for key in self.EXPAND_ONLY.get(template, []):
                        if isinstance(properties, dict) and key in properties:
                            errors.append(f"$.value[{index}].properties.{key}: sent only for a $expand the list does not take")
            return Outcome(name, errors)
        return Outcome(None, ["no described operation for this method and path"])

    def self_test(self):
        assessment = {"id": "/x", "name": "n", "type": "t", "properties": {
            "displayName": "d", "status": {"code": "Healthy"}, "resourceDetails": {"source": "Azure", "id": "/r"},
            "additionalData": {"softwareName": 1}, "invented": True}}
        yield self.check(dict(_entry("GET", "/subscriptions/s/providers/Microsoft.Security/assessments", 200,
                                     {"value": [assessment]}), query="api-version=2021-06-01"))
        yield self.check(dict(_entry("GET", "/subscriptions", 403, {"error": {"code": "X", "made": 1}}),
                              query="api-version=2022-12-01"))
        expanded = {"id": "/x", "name": "n", "type": "t", "properties": {
            "displayName": "d", "status": {"code": "Healthy"}, "metadata": {"displayName": "d", "severity": "High", "assessmentType": "BuiltIn"}}}
        yield self.check(dict(_entry("GET", "/subscriptions/s/providers/Microsoft.Security/assessments", 200,
                                     {"value": [expanded]}), query="api-version=2021-06-01"))

    def known_good(self):
        yield self.check(dict(_entry("GET", "/subscriptions/s/providers/Microsoft.Security/assessments", 200,
                                     {"value": []}), query="api-version=2021-06-01"))
        yield self.check(dict(_entry("GET", "/subscriptions", 404, {"error": {"code": "SubscriptionNotFound",
                                     "message": "The subscription 's' could not be found."}}), query=None))


class GcpScc:
    """Security Command Center v2 with its token exchanges: STS and IAM Credentials are described
    by discovery documents; SCC v2 has none in google-api-python-client, so its messages come from
    the generated Cloud client (google-cloud-securitycenter, see protoplus.py)."""

    UNDESCRIBED = GoogleWorkspace.UNDESCRIBED
    # STS's token exchange is RFC 8693 over OAuth 2.0, and refuses like an OAuth token endpoint
    # (RFC 6749 section 5.2), not with Google's JSON error.
    OAUTH_ERROR = {
        "type": "object", "required": ["error"], "additional": None,
        "properties": {"error": {"type": "string"}, "error_description": {"type": "string"},
                       "error_uri": {"type": "string"}},
    }

    def __init__(self, root: str):
        from google import Discovery
        from protoplus import Package, http_routes

        base = os.path.join(root, "site-packages/googleapiclient/discovery_cache/documents")
        self.sts = Discovery(os.path.join(base, "sts.v1.json"))
        self.iam = Discovery(os.path.join(base, "iamcredentials.v1.json"))
        scc = os.path.join(root, "site-packages/google/cloud/securitycenter_v2")
        self.scc = Package(os.path.join(scc, "types"), "securitycenter_v2")
        rest_base = os.path.join(scc, "services/security_center/transports/rest_base.py")
        # Operation -> its response message, as the generated client names them.
        self.operations = {"ListFindings": "securitycenter_service:ListFindingsResponse"}
        self.scc_routes = [(method, uri, re.compile(regex), operation)
                           for operation in self.operations
                           for method, uri, regex in http_routes(rest_base, operation)]
        self.source = (f"google-api-python-client {VERSIONS['google-api-python-client']} sts.v1, "
                       f"iamcredentials.v1; google-cloud-securitycenter "
                       f"{VERSIONS['google-cloud-securitycenter']} securitycenter_v2")

    def check(self, entry: dict) -> Outcome:
        from google import ERROR

        reason = undescribed(self.UNDESCRIBED, entry["method"], entry["path"])
        if reason:
            return Outcome(reason, undescribed=True)
        found = self.sts.find(entry["method"], entry["path"])
        if found:
            return self.sts.check(entry, found, error=self.OAUTH_ERROR)
        found = self.iam.find(entry["method"], entry["path"])
        if found:
            return self.iam.check(entry, found)
        for method, uri, regex, operation in self.scc_routes:
            if method == entry["method"] and regex.match(entry["path"]):
                name = f"securitycenter.v2 {operation} ({method} {uri})"
                if entry["status"] >= 400:
                    return Outcome(name, validate(entry["body"], ERROR, None))
                if entry["status"] != 200:
                    return Outcome(name, [f"status {entry['status']}: Google APIs answer 200 on success"])
                return Outcome(name, validate(entry["body"], {"ref": self.operations[operation]}, self.scc.schemas))
        return Outcome(None, ["no described operation for this method and path"])

    def self_test(self):
        finding = {"name": "n", "state": "OPEN", "severity": "SEVERE", "invented": 1}
        body = {"listFindingsResults": [{"finding": finding, "resource": {"name": "r"}}], "totalSize": 1}
        yield self.check(_entry("GET", "/v2/organizations/1/sources/-/locations/global/findings", 200, body))
        yield self.check(_entry("POST", "/v1/token", 200, {"access_token": 1, "expires_in": 3600}))
        yield self.check(_entry("POST", "/v1/projects/-/serviceAccounts/a@b:generateAccessToken", 200,
                                {"accessToken": "t", "expireTime": "x", "token_type": "Bearer"}))

    def known_good(self):
        yield self.check(_entry("GET", "/v2/organizations/1/sources/-/locations/global/findings", 200,
                                {"listFindingsResults": [], "totalSize": 0}))
        yield self.check(_entry("POST", "/v1/token", 400, {"error": "invalid_grant", "error_description": "x"}))


class Okta:
    UNDESCRIBED = {
        # The org authorization server's OAuth 2.0 / OIDC endpoints: Okta's OIDC & OAuth 2.0 API,
        # not part of the management API the SDK is generated from.
        ("POST", "/oauth2/v1/token"): "OAuth 2.0 token endpoint",
        ("GET", "/oauth2/v1/authorize"): "OAuth 2.0 authorization endpoint",
        ("GET", "/oauth2/v1/keys"): "JWKS",
    }
    # Okta answers 401 (invalid or expired token), 403 and 429 on any management operation
    # with its error object, though the SDK declares them per operation only where the
    # description lists them (Okta's "Error codes" and "Rate limits" pages).
    GENERIC = {401: "ModelError", 403: "ModelError", 429: "ModelError"}

    def __init__(self, root: str):
        from okta import OktaSdk

        self.api = OktaSdk(os.path.join(root, "node_modules/@okta/okta-sdk-nodejs"))
        self.source = f"@okta/okta-sdk-nodejs {VERSIONS['@okta/okta-sdk-nodejs']} generated models and APIs"

    def check(self, entry: dict) -> Outcome:
        reason = undescribed(self.UNDESCRIBED, entry["method"], entry["path"])
        if reason:
            return Outcome(reason, undescribed=True)
        return self.api.check(entry, self.GENERIC)

    def self_test(self):
        user = {"id": "00u1", "status": "HAPPY", "profile": {"login": "a"}, "invented": 1}
        yield self.check(_entry("GET", "/api/v1/users", 200, [user]))
        yield self.check(_entry("GET", "/api/v1/groups/00g1/users", 401, {"errorCode": "E0000011", "made": 1}))

    def known_good(self):
        yield self.check(_entry("GET", "/api/v1/users", 200, []))
        error = {"errorCode": "E0000011", "errorSummary": "Invalid token provided", "errorLink": "E0000011",
                 "errorId": "oae1", "errorCauses": []}
        yield self.check(_entry("GET", "/api/v1/groups", 401, error))


def _entry(method: str, path: str, status: int, body) -> dict:
    return {"method": method, "path": path, "query": None, "status": status,
            "contentType": "application/json", "body": body, "deviation": None}


CHECKERS = {
    "github": GitHub,
    "google_workspace": GoogleWorkspace,
    "gcp_scc": GcpScc,
    "aws": Aws,
    "okta": Okta,
    "azure_arm": AzureArm,
}


def load_all(root: str) -> dict:
    return {name: cls(root) for name, cls in CHECKERS.items()}


def self_test(checkers: dict) -> int:
    """Every known-bad case must be refused, and the validator's own basics must hold."""
    failed = False
    basics = [
        (None, {"type": "string"}),
        ({"a": 1, "b": 2}, {"type": "object", "properties": {"a": {"type": "integer"}}, "additional": None}),
        ({}, {"type": "object", "properties": {}, "required": ["a"], "additional": None}),
        ("x", {"type": "string", "enum": ["y"]}),
        (1.5, {"type": "integer"}),
        (True, {"type": "integer"}),
        ([1, "a"], {"type": "array", "items": {"type": "integer"}}),
        ("2024-06-01", {"type": "string", "format": "date-time"}),
    ]
    for value, schema in basics:
        if not validate(value, schema, None):
            print(f"self-test FAIL: {value!r} passed {schema}")
            failed = True
    if validate({"a": None}, {"type": "object", "properties": {"a": {"type": "integer", "nullable": True}}, "additional": None}, None):
        print("self-test FAIL: a nullable property refused null")
        failed = True
    for name, checker in checkers.items():
        outcomes = list(checker.self_test())
        passed = [outcome for outcome in outcomes if not outcome.errors]
        for outcome in passed:
            print(f"self-test FAIL: {name}: a known-bad response to {outcome.operation} passed")
        failed = failed or bool(passed) or not outcomes
        good = list(checker.known_good())
        refused = [outcome for outcome in good if outcome.errors]
        for outcome in refused:
            print(f"self-test FAIL: {name}: a conforming response to {outcome.operation} was refused: {outcome.errors}")
        failed = failed or bool(refused) or not good
        print(f"self-test: {name}: {len(outcomes) - len(passed)} of {len(outcomes)} known-bad responses refused, "
              f"{len(good) - len(refused)} of {len(good)} conforming ones accepted")
    return 1 if failed else 0
