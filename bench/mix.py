"""The seed's load-test mix as one wrk script. Read from ops/load/locustfile.py itself (its
password, its order and its task weights), so the two cannot drift apart.

wrk has no users and no waits: each wrk thread plays one user at a time, closed loop. A user
registers, logs in (its token replaces the last user's once the login answers), then runs
TASKS_PER_USER tasks drawn by the locustfile's weights: product list, product detail, place
order. The issue's target run (1,000 users, 300 s, 1 to 3 s between tasks) has each user run
about 150 tasks, so sign-ups are as rare here as in that steady state."""

from __future__ import annotations

import ast
import json
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from bench.config import ROOT

LOCUSTFILE = ROOT.parent / "ops" / "load" / "locustfile.py"
TASKS_PER_USER = 150
# The locustfile's task methods, by what they request.
TASKS = ("view_products", "view_product_detail", "create_order")


@dataclass(frozen=True)
class SeedMix:
    password: str
    order: dict[str, Any]
    weights: dict[str, int]  # task method name -> @task weight


def seed_mix(path: Path = LOCUSTFILE) -> SeedMix:
    """The locustfile's password, order body and @task weights, read without importing locust."""
    module = ast.parse(path.read_text())
    constants: dict[str, Any] = {}
    weights: dict[str, int] = {}
    for node in ast.walk(module):
        # The seed's file spells its bodies out inline: the register body has the password,
        # the order body its items.
        if isinstance(node, ast.Dict):
            fields = {
                k.value: v
                for k, v in zip(node.keys, node.values, strict=True)
                if isinstance(k, ast.Constant)
            }
            password = fields.get("password")
            if isinstance(password, ast.Constant):
                constants["PASSWORD"] = password.value
            if "items" in fields:
                constants["ORDER"] = ast.literal_eval(node)
        if isinstance(node, ast.FunctionDef):
            for decorator in node.decorator_list:
                if (
                    isinstance(decorator, ast.Call)
                    and isinstance(decorator.func, ast.Name)
                    and decorator.func.id == "task"
                ):
                    weights[node.name] = int(ast.literal_eval(decorator.args[0]))
    missing = [n for n in ("PASSWORD", "ORDER") if n not in constants]
    missing += [t for t in TASKS if t not in weights]
    if missing or set(weights) != set(TASKS):
        raise ValueError(
            f"{path} is not the seed mix this script knows: missing {missing}, tasks {weights}"
        )
    return SeedMix(constants["PASSWORD"], constants["ORDER"], weights)


_LUA = """
local password = %(password)s
local run = %(run)s
local tasks_per_user = %(tasks)d
local w_list, w_detail, w_order = %(w_list)d, %(w_detail)d, %(w_order)d
local order_body = %(order)s
local token = %(token)s  -- a user signed up before the run, until this thread's first login
local json = {["Content-Type"] = "application/json"}
local list = wrk.format("GET", "/api/v1/products")
local detail = wrk.format("GET", "/api/v1/products/prod_1")
local tasks, users, waited = tasks_per_user, 0, 0
local registering, login_email, logging_in = nil, nil, false
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_id", threads)
end

function init(args)
  math.randomseed(os.time() * 1000 + thread_id)
end

function request()
  if login_email then
    local body = string.format('{"email":"%%s","password":"%%s"}', login_email, password)
    login_email, logging_in, waited = nil, true, 0
    return wrk.format("POST", "/api/v1/auth/login", json, body)
  end
  if tasks >= tasks_per_user and not registering and not logging_in then
    tasks, users, waited = 0, users + 1, 0
    registering = string.format("mix-%%s-%%d-%%d@example.com", run, thread_id, users)
    local body = string.format(
      '{"name":"Load Test User","email":"%%s","password":"%%s"}', registering, password)
    return wrk.format("POST", "/api/v1/auth/register", json, body)
  end
  tasks = tasks + 1
  local r = math.random(w_list + w_detail + w_order)
  if r <= w_list then return list end
  if r <= w_list + w_detail then return detail end
  return wrk.format("POST", "/api/v1/orders",
    {["Content-Type"] = "application/json", ["Authorization"] = "Bearer " .. token}, order_body)
end

function response(status, headers, body)
  if registering and status == 201 and body:find(registering, 1, true) then
    login_email, registering = registering, nil
  elseif logging_in then
    local t = body:match('"access_token"%%s*:%%s*"([^"]+)"')
    if t then token, logging_in = t, false end
  end
  if registering or logging_in then
    -- A sign-up or login that failed or timed out never answers as expected: once every
    -- request in flight with it has surely answered, move on to the next user.
    waited = waited + 1
    if waited > 200 then registering, logging_in = nil, false end
  end
end
"""


def lua(token: str, mix: SeedMix | None = None) -> str:
    """The wrk script of the seed mix, the tasks' orders authenticated with `token` until each
    thread's first login."""
    mix = mix or seed_mix()

    def text(value: str) -> str:
        return json.dumps(value)  # a JSON string is a valid Lua string here (ASCII, no \\u)

    return _LUA % {
        "password": text(mix.password),
        "run": text(uuid.uuid4().hex[:10]),
        "tasks": TASKS_PER_USER,
        "w_list": mix.weights["view_products"],
        "w_detail": mix.weights["view_product_detail"],
        "w_order": mix.weights["create_order"],
        "order": text(json.dumps(mix.order)),
        "token": text(token),
    }
