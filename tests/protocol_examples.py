"""Example messages of Kraken's protocol reference, as wire bytes.

Names without a prefix are Spot v2, names starting with ``F_`` are Futures v1. The literals are
copied verbatim from the reference, except where a comment says an elided part (``...``) was
completed; the section "Constructed" at the end holds messages the reference describes only by
their keys, built from those key lists.

The recorded book (``BOOK_FIXTURE``) lives in ``tests/fixtures``; its README says where it comes from.
"""

# ruff: noqa: E501  (wire messages are kept verbatim, one per line)

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import msgspec

FIXTURES = Path(__file__).resolve().parent / "fixtures"
BOOK_FIXTURE = FIXTURES / "book-btcusd-depth10.jsonl"

# --------------------------------------------------------------------------------------------
# Spot v2: server-initiated (§1.5, §1.6)

HEARTBEAT = b'{"channel":"heartbeat"}'
STATUS_DOC = b'{"channel":"status","data":[{"api_version":"v2","connection_id":13834774380200032777,"system":"online","version":"2.0.0"}],"type":"update"}'
STATUS_2026 = b'{"channel":"status","type":"update","data":[{"version":"2.0.10","system":"online","api_version":"v2","connection_id":12072546403441331453}]}'
PONG_DOC = b'{"method":"pong","req_id":101,"time_in":"2023-09-24T14:10:23.799685Z","time_out":"2023-09-24T14:10:23.799703Z"}'
PONG_2024 = b'{"method":"pong","req_id":1,"time_in":"2024-05-20T11:08:49.272922Z","time_out":"2024-05-20T11:08:49.272940Z"}'

# --------------------------------------------------------------------------------------------
# Spot v2: subscribe / unsubscribe acks, one per symbol (§1.2, §2.7)

SUBSCRIBE_ACK_BOOK_DOC = b'{"method":"subscribe","result":{"channel":"book","depth":10,"snapshot":true,"symbol":"ALGO/USD"},"success":true,"time_in":"2023-10-06T17:35:55.219022Z","time_out":"2023-10-06T17:35:55.219067Z"}'
SUBSCRIBE_ACK_TICKER = b'{"method":"subscribe","req_id":42,"result":{"channel":"ticker","event_trigger":"trades","snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2024-05-15T11:20:43.013486Z","time_out":"2024-05-15T11:20:43.013545Z"}'
SUBSCRIBE_ACK_BOOK = b'{"method":"subscribe","req_id":11,"result":{"channel":"book","depth":10,"snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2024-05-19T16:27:13.694962Z","time_out":"2024-05-19T16:27:13.695006Z"}'
SUBSCRIBE_ACK_OHLC = b'{"method":"subscribe","req_id":121,"result":{"channel":"ohlc","interval":60,"snapshot":true,"symbol":"ETH/USD","warnings":["timestamp is deprecated, use interval_begin"]},"success":true,"time_in":"2024-05-19T19:06:57.002983Z","time_out":"2024-05-19T19:06:57.003037Z"}'
SUBSCRIBE_ACK_TRADE = b'{"method":"subscribe","req_id":0,"result":{"channel":"trade","snapshot":true,"symbol":"BTC/USD"},"success":true,"time_in":"2024-05-19T19:11:23.034030Z","time_out":"2024-05-19T19:11:23.034073Z"}'
SUBSCRIBE_ACK_INSTRUMENT = b'{"method":"subscribe","req_id":0,"result":{"channel":"instrument","snapshot":true,"warnings":["tick_size is deprecated, use price_increment"]},"success":true,"time_in":"2024-05-19T19:44:43.264430Z","time_out":"2024-05-19T19:44:43.264464Z"}'
SUBSCRIBE_ACK_BALANCES = b'{"method":"subscribe","req_id":10312008,"result":{"channel":"balances","snapshot":true},"success":true,"time_in":"2024-05-19T16:25:28.289124Z","time_out":"2024-05-19T16:25:28.293750Z"}'
SUBSCRIBE_ACK_EXECUTIONS = b'{"method":"subscribe","req_id":0,"result":{"channel":"executions","maxratecount":180,"snapshot":true,"warnings":["cancel_reason is deprecated, use reason","stop_price is deprecated, use triggers.price","trigger is deprecated use triggers.reference","triggered_price is deprecated use triggers.last_price"]},"success":true,"time_in":"2024-05-19T19:30:36.343170Z","time_out":"2024-05-19T19:30:36.350083Z"}'
SUBSCRIBE_ACK_EXECUTIONS_DOC = b'{"method":"subscribe","result":{"channel":"executions","maxratecount":125,"snap_orders":true,"snap_trades":true},"success":true,"time_in":"2023-10-16T13:18:35.303171Z","time_out":"2023-10-16T13:18:35.318297Z"}'
UNSUBSCRIBE_ACK_TICKER = b'{"method":"unsubscribe","result":{"channel":"ticker","event_trigger":"trades","symbol":"ALGO/USD"},"success":true,"time_in":"2023-09-25T09:04:31.742599Z","time_out":"2023-09-25T09:04:31.742648Z"}'

# --------------------------------------------------------------------------------------------
# Spot v2: errors (§1.3)

ERROR_PING_PARAMS = b'{"error":"Unsupported field: \'params\' for the given msg type: ping","method":"ping","req_id":0,"success":false,"time_in":"2024-05-19T19:58:40.170724Z","time_out":"2024-05-19T19:58:40.170758Z"}'
ERROR_UNSUPPORTED_EVENT = b'{"error":"Unsupported event","method":"subscribe","req_id":0,"success":false,"time_in":"2024-05-19T20:02:10.316562Z","time_out":"2024-05-19T20:02:10.316592Z"}'
ERROR_NO_MPP = b'{"error":"EGeneral:Invalid arguments:no_mpp order option is only available when ordertype = market","method":"add_order","req_id":0,"success":false,"time_in":"2024-05-18T12:03:08.768086Z","time_out":"2024-05-18T12:03:08.768149Z"}'
ERROR_CASH_ORDER_QTY = b'{"error":"Cash_order_qty field must be a number_float","method":"add_order","req_id":7,"success":false,"time_in":"2024-05-18T12:00:03.886027Z","time_out":"2024-05-18T12:00:03.886141Z"}'
ERROR_PERMISSION_DENIED = b'{"error":"EGeneral:Permission denied","method":"add_order","req_id":0,"success":false,"time_in":"2024-05-18T12:03:43.466650Z","time_out":"2024-05-18T12:03:43.471987Z"}'
ERROR_TOKEN_NOT_FOUND = b'{"error":"Token(s) not found","method":"edit_order","req_id":0,"success":false,"time_in":"2024-05-18T13:04:41.754066Z","time_out":"2024-05-18T13:04:41.754113Z"}'
ERROR_LIMIT_PRICE_TYPE = b'{"error":"Limit_price field must be a number_float","method":"amend_order","req_id":0,"success":false,"time_in":"2024-10-13T13:31:28.636431Z","time_out":"2024-10-13T13:31:28.636488Z"}'
ERROR_UNSUPPORTED_FIELD_NO_REQ_ID = b'{"error":"Unsupported field: \'price\' for the given msg type: add order","method":"add_order","success":false,"time_in":"2025-05-13T08:59:44.803511Z","time_out":"2025-05-13T08:59:44.803542Z"}'
ERROR_SUBSCRIPTION_NOT_FOUND = b'{"error": "Subscription Not Found", "method": "subscribe", "req_id": 123456789, "success": false, "symbol": "BTC/USD", "time_in": "..."}'

# --------------------------------------------------------------------------------------------
# Spot v2: market data (§2.1-§2.6)

TICKER_DOC = b'{"channel":"ticker","type":"snapshot","data":[{"symbol":"ALGO/USD","bid":0.10025,"bid_qty":740.0,"ask":0.10036,"ask_qty":1361.44813783,"last":0.10035,"volume":997038.98383185,"vwap":0.10148,"low":0.09979,"high":0.10285,"change":-0.00017,"change_pct":-0.17,"timestamp":"2023-09-25T09:04:31.742648Z"}]}'
TICKER_2024 = b'{"channel":"ticker","type":"snapshot","data":[{"symbol":"BTC/USD","bid":65972.8,"bid_qty":0.10000000,"ask":65972.9,"ask_qty":39.67506683,"last":65972.9,"volume":4216.61829370,"vwap":64275.2,"low":61325.4,"high":66450.0,"change":4412.1,"change_pct":7.17}]}'
BOOK_SNAPSHOT_DOC = b'{"channel":"book","type":"snapshot","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5666,"qty":4831.75496356},{"price":0.5665,"qty":6658.22734739},{"price":0.5664,"qty":18724.91513344},{"price":0.5663,"qty":11563.92544914},{"price":0.5662,"qty":14006.65365711},{"price":0.5661,"qty":17454.85679807},{"price":0.566,"qty":18097.1547},{"price":0.5659,"qty":33644.89175666},{"price":0.5658,"qty":148.3464},{"price":0.5657,"qty":606.70854372}],"asks":[{"price":0.5668,"qty":4410.79769741},{"price":0.5669,"qty":4655.40412487},{"price":0.567,"qty":49844.89424998},{"price":0.5671,"qty":24306.41678},{"price":0.5672,"qty":29783.25223475},{"price":0.5673,"qty":57234.71239278},{"price":0.5674,"qty":45065.04744},{"price":0.5675,"qty":5912.76380354},{"price":0.5676,"qty":42514.92434778},{"price":0.5677,"qty":36304.0847022}],"checksum":2439117997,"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
BOOK_UPDATE_DOC = b'{"channel":"book","type":"update","data":[{"symbol":"MATIC/USD","bids":[{"price":0.5657,"qty":1098.3947558}],"asks":[],"checksum":2114181697,"timestamp":"2023-10-06T17:35:55.440295Z"}]}'
LEVEL3_SNAPSHOT_DOC_WITH_PLACEHOLDERS = b'{"channel":"level3","type":"snapshot","data":[{"symbol":"MATIC/USD","checksum":281817320,"bids":[{"order_id":"O6ZQNQ-BXL4E-5WGINO","limit_price":0.5629,"order_qty":111.56125344,"timestamp":"2023-10-06T17:35:00.279389650Z"}, "..."],"asks":[{"order_id":"OLLSXO-HDMT3-BUOKEI","limit_price":0.563,"order_qty":4422.9978357,"timestamp":"2023-10-06T18:18:20.734897896Z"}, "..."]}]}'
LEVEL3_UPDATE_DOC = b'{"channel":"level3","type":"update","data":[{"checksum":2841398499,"symbol":"MATIC/USD","bids":[],"asks":[{"event":"delete","order_id":"OOIATY-6EIWY-ACVIUN","limit_price":0.5636,"order_qty":302.89736033,"timestamp":"2023-10-06T18:21:00.097010033Z"},{"event":"add","order_id":"O2BN53-5RSB2-V3J57T","limit_price":0.564,"order_qty":3500.77668626,"timestamp":"2023-10-06T18:20:27.383408052Z"}]}]}'
LEVEL3_UPDATE_2024 = b'{"channel":"level3","type":"update","data":[{"checksum":2143854316,"symbol":"BTC/USD","bids":[{"event":"delete","order_id":"O7SO4Y-RHRAK-GGAHJE","limit_price":66567.3,"order_qty":0.22540000,"timestamp":"2024-05-19T18:59:46.541105556Z"},{"event":"add","order_id":"OI2XQ5-6JUYI-A5NI6J","limit_price":66566.9,"order_qty":2.82230268,"timestamp":"2024-05-19T18:59:44.900460701Z"}],"asks":[]}]}'
OHLC_UPDATE = b'{"channel":"ohlc","type":"update","timestamp":"2023-10-04T16:26:30.524394914Z","data":[{"symbol":"MATIC/USD","open":0.5624,"high":0.5628,"low":0.5622,"close":0.5627,"trades":12,"volume":30927.68066226,"vwap":0.5626,"interval_begin":"2023-10-04T16:25:00.000000000Z","interval":5,"timestamp":"2023-10-04T16:30:00.000000Z"}]}'
TRADE_UPDATE = b'{"channel":"trade","type":"update","data":[{"symbol":"MATIC/USD","side":"sell","price":0.5117,"qty":40.0,"ord_type":"market","trade_id":4665906,"timestamp":"2023-09-25T07:49:37.708706Z"}]}'
INSTRUMENT_SNAPSHOT = b'{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"USD","status":"enabled","precision":4,"precision_display":2,"borrowable":true,"collateral_value":1.0,"margin_rate":0.015},{"id":"BTC","status":"enabled","precision":10,"precision_display":5,"borrowable":true,"collateral_value":1.0,"margin_rate":0.01}],"pairs":[{"symbol":"BTC/USD","base":"BTC","quote":"USD","status":"online","qty_precision":8,"qty_increment":1e-08,"price_precision":1,"cost_precision":5,"marginable":true,"has_index":true,"cost_min":0.5,"margin_initial":0.2,"position_limit_long":250,"position_limit_short":200,"tick_size":0.1,"price_increment":0.1,"qty_min":0.0001},{"symbol":"MATIC/GBP","base":"MATIC","quote":"GBP","status":"online","qty_precision":8,"qty_increment":1e-08,"price_precision":4,"cost_precision":6,"marginable":false,"has_index":true,"cost_min":0.43,"tick_size":0.0001,"price_increment":0.0001,"qty_min":4.0}]}}'
INSTRUMENT_UPDATE = b'{"channel":"instrument","type":"update","data":{"assets":[{"id":"BTC","status":"enabled","precision":10,"precision_display":5,"borrowable":true,"collateral_value":1.0,"margin_rate":0.01}],"pairs":[]}}'

# --------------------------------------------------------------------------------------------
# Spot v2: private streams (§2.7, §2.8)

EXECUTIONS_PENDING_NEW = b'{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","order_userref":3,"symbol":"BTC/USD","order_qty":0.005,"cum_cost":0.0,"time_in_force":"GTC","exec_type":"pending_new","side":"sell","order_type":"limit","limit_price_type":"static","limit_price":26500.0,"stop_price":0.0,"order_status":"pending_new","fee_usd_equiv":0.0,"fee_ccy_pref":"fciq","timestamp":"2023-09-22T10:33:05.709950Z"}],"sequence":8}'
EXECUTIONS_NEW = b'{"channel":"executions","type":"update","data":[{"timestamp":"2023-09-22T10:33:05.709982Z","order_status":"new","exec_type":"new","order_userref":3,"order_id":"OK4GJX-KSTLS-7DZZO5"}],"sequence":9}'
EXECUTIONS_TRADE = b'{"channel":"executions","type":"update","data":[{"order_id":"OK4GJX-KSTLS-7DZZO5","order_userref":3,"exec_id":"TGBB7L-HT5LX-J3BZ4A","exec_type":"trade","trade_id":62887576,"symbol":"BTC/USD","side":"sell","last_qty":0.005,"last_price":26599.9,"liquidity_ind":"t","cost":132.9995,"order_type":"limit","timestamp":"2023-09-22T10:33:05.709993Z","order_status":"partially_filled","cum_qty":0.005,"cum_cost":132.9995,"avg_price":26599.9,"fee_usd_equiv":0.3458,"fees":[{"asset":"USD","qty":0.3458}]}],"sequence":10}'
EXECUTION_CANCELED_ITEM = b'{"timestamp":"2025-10-11T15:11:47.695226Z","order_status":"canceled","exec_type":"canceled","order_userref":0,"order_id":"OGAB7Y-BKX5F-PTK5RW","cum_qty":0,"cum_cost":0,"fee_usd_equiv":0,"avg_price":0,"cancel_reason":"User requested","reason":"User requested"}'
BALANCES_SNAPSHOT = b'{"channel":"balances","data":[{"asset":"BTC","asset_class":"currency","balance":1.2,"wallets":[{"type":"spot","id":"main","balance":1.2}]},{"asset":"USD","asset_class":"currency","balance":80595.4943,"wallets":[{"type":"spot","id":"main","balance":80595.4943}]}],"type":"snapshot","sequence":1}'
BALANCES_UPDATE_BTC = b'{"channel":"balances","type":"update","data":[{"ledger_id":"AAICKV-NMQSR-ZO5IJD","ref_id":"AGBB7L-HT5LX-J3BB4A","timestamp":"2023-09-22T10:33:05.710082Z","type":"trade","asset":"BTC","asset_class":"currency","category":"trade","wallet_type":"spot","wallet_id":"main","amount":-0.005,"fee":0.0,"balance":0.005}],"sequence":9}'
BALANCES_UPDATE_USD = b'{"channel":"balances","type":"update","data":[{"ledger_id":"A5KS77-LQRMP-SMMN4B","ref_id":"AGBB7L-HT5LX-J3BB4A","timestamp":"2023-09-22T10:33:05.710082Z","type":"trade","asset":"USD","asset_class":"currency","category":"trade","wallet_type":"spot","wallet_id":"main","amount":132.9995,"fee":0.3458,"balance":500}],"sequence":10}'

# --------------------------------------------------------------------------------------------
# Spot v2: trading responses (§4)

ADD_ORDER_RESPONSE = b'{"method":"add_order","req_id":123456789,"result":{"order_id":"AA5JGQ-SBMRC-SCJ7J7","order_userref":100054},"success":true,"time_in":"2023-09-21T14:15:07.197274Z","time_out":"2023-09-21T14:15:07.205301Z"}'
ADD_ORDER_REAL_RESPONSE = b'{"method":"add_order","req_id":0,"result":{"order_id":"OPS23M-VS41G-DDE5Z2","cl_ord_id":"client-zero"},"success":true,"time_in":"2024-05-18T12:05:50.293682Z","time_out":"2024-05-18T12:05:50.300542Z"}'
AMEND_ORDER_RESPONSE = b'{"method":"amend_order","result":{"amend_id":"TTW6PD-RC36L-ZZSWNU","cl_ord_id":"2c6be801-1f53-4f79-a0bb-4ea1c95dfae9"},"success":true,"time_in":"2024-07-26T13:39:04.922699Z","time_out":"2024-07-26T13:39:04.924912Z"}'
AMEND_ORDER_RESPONSE_2024 = b'{"method":"amend_order","req_id":0,"result":{"amend_id":"1M2JV8-OEJZD-G5GSBF","order_id":"BQS60L-EGW18-UPAK9U"},"success":true,"time_in":"2024-05-18T13:10:11.123456Z","time_out":"2024-05-18T13:10:11.130000Z"}'
EDIT_ORDER_RESPONSE = b'{"method":"edit_order","req_id":1234567890,"result":{"order_id":"ORDERX-IDXXX-XXXXX2","original_order_id":"ORDERX-IDXXX-XXXXX1"},"success":true,"time_in":"2022-07-15T12:56:09.876488Z","time_out":"2022-07-15T12:56:09.923422Z"}'
CANCEL_ORDER_RESPONSE_1 = b'{"method":"cancel_order","req_id":123456789,"result":{"order_id":"OLUMT4-UTEGU-ZYM7E9"},"success":true,"time_in":"2023-09-21T14:36:57.428972Z","time_out":"2023-09-21T14:36:57.437952Z"}'
CANCEL_ORDER_RESPONSE_2 = b'{"method":"cancel_order","req_id":123456789,"result":{"order_id":"OM5CRX-N2HAL-GFGWE9"},"success":true,"time_in":"2023-09-21T14:36:57.428972Z","time_out":"2023-09-21T14:36:57.438027Z"}'
CANCEL_ORDER_RESPONSE_CL_ORD_ID = b'{"method":"cancel_order","req_id":0,"result":{"cl_ord_id":"a-uuid"},"success":true,"time_in":"2024-05-18T13:20:00.000100Z","time_out":"2024-05-18T13:20:00.000200Z"}'
CANCEL_ALL_RESPONSE = b'{"method":"cancel_all","req_id":1234567890,"result":{"count":1},"success":true,"time_in":"2023-09-26T13:09:48.463201Z","time_out":"2023-09-26T13:09:48.471419Z"}'
CANCEL_AFTER_RESPONSE = b'{"method":"cancel_all_orders_after","req_id":1234567890,"result":{"currentTime":"2023-09-21T15:49:29Z","triggerTime":"2023-09-21T15:51:09Z"},"success":true,"time_in":"2023-09-21T15:49:28.627900Z","time_out":"2023-09-21T15:49:28.649057Z"}'
BATCH_ADD_RESPONSE = b'{"method":"batch_add","req_id":1234567890,"result":[{"order_id":"ORDERX-IDXXX-XXXXX1","order_userref":1},{"order_id":"ORDERX-IDXXX-XXXXX2","order_userref":2}],"success":true,"time_in":"2022-06-13T08:09:10.123456Z","time_out":"2022-06-13T08:09:10.7890123"}'
BATCH_ADD_RESPONSE_2024 = b'{"method":"batch_add","req_id":0,"result":[{"order_id":"JQDNTT-MZEIZ-OZKUDD"},{"order_id":"X67GEK-3VQWM-HPNQ89"}],"success":true,"time_in":"2024-05-19T19:20:00.111111Z","time_out":"2024-05-19T19:20:00.222222Z"}'
BATCH_CANCEL_RESPONSE_DOC = b'{"method":"batch_cancel","req_id":1234567890,"result":{"count":3},"success":true,"time_in":"2022-06-13T08:09:10.123456Z","time_out":"2022-06-13T08:09:10.7890123"}'
BATCH_CANCEL_RESPONSE_LIVE = b'{"method":"batch_cancel","orders_cancelled":2,"req_id":0,"success":true,"time_in":"2024-05-19T19:29:58.063754Z","time_out":"2024-05-19T19:29:58.071569Z"}'

# --------------------------------------------------------------------------------------------
# Spot v2: requests (§1.1, §2.3, §2.7, §4)

PING = b'{"method":"ping","req_id":101}'
SUBSCRIBE_TICKER_REQUEST = b'{"method": "subscribe", "params": {"channel": "ticker", "symbol": ["BTC/USD", "MATIC/GBP"]}, "req_id": 1234}'
UNSUBSCRIBE_TICKER_REQUEST = b'{"method": "unsubscribe", "params": {"channel": "ticker", "symbol": ["BTC/USD"]}, "req_id": 1235}'
LEVEL3_SUBSCRIBE = b'{"method":"subscribe","params":{"channel":"level3","symbol":["ALGO/USD","MATIC/USD"],"snapshot":true,"token":"G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY"}}'
EXECUTIONS_SUBSCRIBE = b'{"method":"subscribe","params":{"channel":"executions","token":"G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY","snap_orders":true,"snap_trades":true}}'
ADD_ORDER_REQUEST = b'{"method":"add_order","params":{"order_type":"limit","side":"buy","limit_price":26500.4,"order_userref":100054,"order_qty":1.2,"symbol":"BTC/USD","token":"G38a1tGFzqGiUCmnegBcm8d4nfP3tytiNQz6tkCBYXY"},"req_id":123456789}'
ADD_ORDER_STOP_LOSS_REQUEST = b'{"method":"add_order","params":{"order_type":"stop-loss","side":"sell","order_qty":100,"symbol":"MATIC/USD","triggers":{"reference":"last","price":-2.0,"price_type":"pct"},"token":"..."}}'
ADD_ORDER_CONDITIONAL_REQUEST = b'{"method":"add_order","params":{"order_type":"limit","side":"buy","order_qty":1.2,"symbol":"BTC/USD","limit_price":28440,"conditional":{"order_type":"stop-loss-limit","trigger_price":28410,"limit_price":28400},"token":"..."}}'
ADD_ORDER_REAL_REQUEST = b'{"method":"add_order","params":{"order_type":"limit","side":"buy","symbol":"USDC/USD","limit_price":0.95,"time_in_force":"ioc","order_qty":5.0,"post_only":false,"fee_preference":"quote","token":"aToken","cl_ord_id":"client-zero","sender_sub_id":"sender-one"},"req_id":0}'
AMEND_ORDER_REQUEST = b'{"method":"amend_order","params":{"cl_ord_id":"2c6be801-1f53-4f79-a0bb-4ea1c95dfae9","limit_price":490795,"order_qty":1.2,"token":"PM5Qm0MDrS54l657aQAtb7AhrwN30e2LBg1nUYOd6vU"}}'
EDIT_ORDER_REQUEST = b'{"method":"edit_order","params":{"order_id":"ORDERX-IDXXX-XXXXX1","order_qty":0.2123456789,"symbol":"BTC/USD","token":"..."},"req_id":1234567890}'
CANCEL_ORDER_REQUEST = b'{"method":"cancel_order","params":{"order_id":["OM5CRX-N2HAL-GFGWE9","OLUMT4-UTEGU-ZYM7E9"],"token":"..."},"req_id":123456789}'
CANCEL_ALL_REQUEST = b'{"method":"cancel_all","params":{"token":"weeBxllys/7kHy/zHpkATSDIS42BvDgWS2b04ZSZHZ5"},"req_id":1234567890}'
CANCEL_AFTER_REQUEST = b'{"method":"cancel_all_orders_after","params":{"timeout":100,"token":"zwpdzWUe18Bn6h4TAMorh26+QbcMeST2B5tamfe+pgQ"},"req_id":1234567890}'
BATCH_ADD_REQUEST = b'{"method":"batch_add","params":{"symbol":"BTC/USD","orders":[{"limit_price":1010.10,"order_qty":0.123456789,"order_type":"limit","order_userref":1,"side":"buy"},{"limit_price":2020.20,"order_qty":0.987654321,"order_type":"limit","order_userref":2,"side":"sell","stp_type":"cancel_both"}],"token":"...","validate":false},"req_id":1234567890}'
BATCH_CANCEL_REQUEST = b'{"method":"batch_cancel","params":{"orders":["1","2","ORDERX-IDXXX-XXXXX3"],"token":"..."},"req_id":1234567890}'

# --------------------------------------------------------------------------------------------
# Futures v1: control messages (§7.1-§7.3)

F_INFO = b'{"event":"info","version":1}'
F_ALERT = b'{"event":"alert","message":"Failed to subscribe to authenticated feed"}'
F_CHALLENGE = b'{"event":"challenge","message":"226aee50-88fc-4618-a42a-34f7709570b2"}'
F_SUBSCRIBED_TICKER = b'{"event":"subscribed","feed":"ticker","product_ids":["PI_XBTUSD"]}'
F_SUBSCRIBED_OPEN_ORDERS = b'{"event":"subscribed","feed":"open_orders"}'
F_UNSUBSCRIBED_OPEN_ORDERS = b'{"event":"unsubscribed","feed":"open_orders"}'
F_HEARTBEAT_SUBSCRIBED = b'{"event":"subscribed","feed":"heartbeat"}'
F_SUBSCRIBED_BALANCES = b'{"event":"subscribed","feed":"balances"}'

# --------------------------------------------------------------------------------------------
# Futures v1: public feeds (§7.4)

F_BOOK_SNAPSHOT = b'{"feed":"book_snapshot","product_id":"PI_XBTUSD","timestamp":1612269825817,"seq":326072249,"tickSize":null,"bids":[{"price":34892.5,"qty":6385},{"price":34892,"qty":10924}],"asks":[{"price":34911.5,"qty":20598},{"price":34912,"qty":2300}]}'
F_BOOK = b'{"feed":"book","product_id":"PI_XBTUSD","side":"sell","seq":326094134,"price":34981,"qty":0,"timestamp":1612269953629}'
F_TICKER = b'{"time":1676393235406,"product_id":"PI_XBTUSD","funding_rate":-6.2604214e-11,"funding_rate_prediction":-3.65989977e-10,"relative_funding_rate":-1.380384722222e-6,"relative_funding_rate_prediction":-8.047629166667e-6,"next_funding_rate_time":1676394000000,"feed":"ticker","bid":21978.5,"ask":21987.0,"bid_size":2536.0,"ask_size":13948.0,"volume":31403908.0,"dtm":0,"leverage":"50x","index":21984.54,"premium":-0.0,"last":21983.5,"change":1.9974017538161748,"suspended":false,"tag":"perpetual","pair":"XBT:USD","openInterest":30072580.0,"markPrice":21979.68641534714,"maturityTime":0,"post_only":false,"volumeQuote":31403908.0,"open":21968.5,"high":22123.0,"low":21456.0}'
F_TICKER_LITE = b'{"feed":"ticker_lite","product_id":"PI_XBTUSD","bid":34932,"ask":34949.5,"change":3.3705205220015966,"premium":0.1,"volume":264126741,"tag":"perpetual","pair":"XBT:USD","dtm":0,"maturityTime":0,"volumeQuote":264126741}'
F_TRADE_SNAPSHOT = b'{"feed":"trade_snapshot","product_id":"PI_XBTUSD","trades":[{"feed":"trade","product_id":"PI_XBTUSD","uid":"caa9c653-420b-4c24-a9f1-462a054d86f1","side":"sell","type":"fill","seq":655508,"time":1612269657781,"qty":440,"price":34893}]}'
F_TRADE = b'{"feed":"trade","product_id":"PI_XBTUSD","uid":"05af78ac-a774-478c-a50c-8b9c234e071e","side":"sell","type":"fill","seq":653355,"time":1612266317519,"qty":15000,"price":34969.5}'
F_HEARTBEAT = b'{"feed":"heartbeat","time":1534262350627}'

# --------------------------------------------------------------------------------------------
# Futures v1: private feeds (§7.5)

F_OPEN_ORDERS_SNAPSHOT = b'{"feed":"open_orders_snapshot","account":"e258dba9-4dd4-4da5-bfef-75beb91c098e","orders":[{"instrument":"PI_XBTUSD","time":1612275024153,"last_update_time":1612275024153,"qty":1000,"filled":0,"limit_price":34900,"stop_price":13789,"type":"stop","order_id":"723ba95f-13b7-418b-8fcf-ab7ba6620555","direction":1,"reduce_only":false,"triggerSignal":"last"}]}'
F_OPEN_ORDERS_NEW = b'{"feed":"open_orders","order":{"instrument":"PI_XBTUSD","time":1567702877410,"last_update_time":1567702877410,"qty":304.0,"filled":0.0,"limit_price":10640.0,"stop_price":0.0,"type":"limit","order_id":"59302619-41d2-4f0b-941f-7e7914760ad3","direction":1,"reduce_only":true},"is_cancel":false,"reason":"new_placed_order_by_user"}'
F_OPEN_ORDERS_CANCEL = b'{"feed":"open_orders","order_id":"660c6b23-8007-48c1-a7c9-4893f4572e8c","is_cancel":true,"reason":"cancelled_by_user"}'
F_FILLS_SNAPSHOT = b'{"feed":"fills_snapshot","account":"DemoUser","fills":[{"instrument":"FI_XBTUSD_200925","time":1600256910739,"price":10937.5,"seq":36,"buy":true,"qty":5000.0,"remaining_order_qty":0.0,"order_id":"9e30258b-5a98-4002-968a-5b0e149bcfbf","fill_id":"cad76f07-814e-4dc6-8478-7867407b6bff","fill_type":"maker","fee_paid":-0.00009142857,"fee_currency":"BTC","taker_order_type":"ioc","order_type":"limit"}]}'
F_FILLS_LIVE = b'{"feed":"fills","username":"6a70e882-...","fills":[{"instrument":"PF_ETHUSD","time":1765185437003,"price":3162.0,"seq":1,"buy":true,"qty":0.001,"remaining_order_qty":0.0,"order_id":"a08aed17-...","cli_ord_id":"b661bad0-...","fill_id":"6a22a3fb-...","fill_type":"taker","fee_paid":0.001581,"fee_currency":"USD","taker_order_type":"market","order_type":"market"}]}'
F_OPEN_POSITIONS = b'{"feed":"open_positions","account":"DemoUser","positions":[{"instrument":"PF_XBTUSD","balance":0.04,"pnl":119.56244985549435,"entry_price":26911.75,"mark_price":29900.81124638736,"index_price":29900.47,"liquidation_threshold":9572.804662403718,"effective_leverage":0.31865408963748215,"return_on_equity":5.553450159107747,"unrealized_funding":0.0004114160669590132,"initial_margin":21.529400000000003,"initial_margin_with_orders":21.529400000000003,"maintenance_margin":10.764700000000001,"pnl_currency":"USD"}],"seq":4,"timestamp":1687383625330}'
F_NOTIFICATIONS = b'{"feed":"notifications_auth","notifications":[{"id":5,"type":"market","priority":"low","note":"A note describing the notification.","effective_time":1520288300000}]}'

# --------------------------------------------------------------------------------------------
# Futures v1: requests (§7.2, §7.3)

F_CHALLENGE_REQUEST = (
    b'{"event":"challenge","api_key":"CMl2SeSn09Tz+2tWuzPfdaJdsahq6qv5UaexXuQ3SnahDQU/gO3aT+"}'
)
F_SUBSCRIBE_TICKER = (
    b'{"event":"subscribe","feed":"ticker","product_ids":["PI_XBTUSD","FI_ETHUSD_210625"]}'
)
F_SUBSCRIBE_OPEN_ORDERS = b'{"event":"subscribe","feed":"open_orders","api_key":"CMl2SeSn09Tz+2tWuzPiPUjaXEQRGq6qv5UaexXuQ3SnahDQU/gO3aT+","original_challenge":"226aee50-88fc-4618-a42a-34f7709570b2","signed_challenge":"RE0DVOc7vS6pzcEjGWd/WJRRBWb54RkyvV+AZQSRl4+rap8Rlk64diR+Z9DQILm7qxncswMmJyvP/2vgzqqh+g=="}'
F_HEARTBEAT_SUBSCRIBE = b'{"event":"subscribe","feed":"heartbeat"}'

# --------------------------------------------------------------------------------------------
# Completed and constructed messages

# §1.5: the 2024 capture is given as `..."connection_id":12393906104898154338,...,"version":"2.0.4"`.
STATUS_2024 = b'{"channel":"status","type":"update","data":[{"version":"2.0.4","system":"online","api_version":"v2","connection_id":12393906104898154338}]}'
# §1.3: ERROR_SUBSCRIPTION_NOT_FOUND elides its timestamps as "..."; this one has them.
ERROR_SUBSCRIPTION_NOT_FOUND_COMPLETE = b'{"error": "Subscription Not Found", "method": "subscribe", "req_id": 123456789, "success": false, "symbol": "BTC/USD", "time_in": "2024-05-19T19:40:00.100000Z", "time_out": "2024-05-19T19:40:00.100050Z"}'
# §2.3: the docs' level3 snapshot with its "..." placeholders removed (1 bid, 1 ask); its checksum
# is recomputed for exactly these two orders (price precision 4, qty precision 8).
LEVEL3_SNAPSHOT_RECONSTRUCTED = b'{"channel":"level3","type":"snapshot","data":[{"symbol":"MATIC/USD","checksum":2310122396,"bids":[{"order_id":"O6ZQNQ-BXL4E-5WGINO","limit_price":0.5629,"order_qty":111.56125344,"timestamp":"2023-10-06T17:35:00.279389650Z"}],"asks":[{"order_id":"OLLSXO-HDMT3-BUOKEI","limit_price":0.563,"order_qty":4422.9978357,"timestamp":"2023-10-06T18:18:20.734897896Z"}]}]}'
# §2.6: the 2024 capture writes increments fixed-point ("qty_increment":0.00000001, "cost_min":0.50,
# "qty_min":0.50000000); the rest of this pair is filled in from the documented field list.
INSTRUMENT_SNAPSHOT_FIXED_POINT = b'{"channel":"instrument","type":"snapshot","data":{"assets":[{"id":"USDC","status":"enabled","precision":8,"precision_display":4,"borrowable":false,"collateral_value":1.00,"margin_rate":0.0200}],"pairs":[{"symbol":"USDC/USD","base":"USDC","quote":"USD","status":"online","qty_precision":8,"qty_increment":0.00000001,"price_precision":4,"cost_precision":5,"marginable":false,"has_index":true,"cost_min":0.50,"tick_size":0.0001,"price_increment":0.0001,"qty_min":0.50000000}]}}'
# §2.8: the balances unsubscribe ack, printed with "..." for its timestamps.
UNSUBSCRIBE_ACK_BALANCES = b'{"method":"unsubscribe","result":{"channel":"balances"},"success":true,"time_in":"2024-05-19T16:30:00.000001Z","time_out":"2024-05-19T16:30:00.000002Z"}'
# §2.3: a level3 ack is not printed; this one follows the per-symbol ack shape of §1.2.
SUBSCRIBE_ACK_LEVEL3 = b'{"method":"subscribe","req_id":3,"result":{"channel":"level3","depth":10,"snapshot":true,"symbol":"MATIC/USD"},"success":true,"time_in":"2023-10-06T17:35:00.100000Z","time_out":"2023-10-06T17:35:00.100100Z"}'
# §2.7: the ccxt canceled event is a single data element; here it is in its envelope.
EXECUTIONS_CANCELED = (
    b'{"channel":"executions","type":"update","data":['
    + EXECUTION_CANCELED_ITEM
    + b'],"sequence":12}'
)
# §2.7: a snapshot (open orders) whose order carries triggers, contingent and deprecated fields.
EXECUTIONS_SNAPSHOT = b'{"channel":"executions","type":"snapshot","data":[{"order_id":"OCTF2P-VPX5O-2HMAXA","symbol":"BTC/USD","order_qty":0.10000000,"cum_qty":0.00000000,"cum_cost":0.00000,"time_in_force":"GTD","expire_time":"2023-10-01T00:00:00.000000Z","effective_time":"2023-09-22T10:00:00Z","exec_type":"new","side":"buy","order_type":"stop-loss-limit","order_userref":0,"cl_ord_id":"my-order-1","limit_price_type":"static","limit_price":25000.0,"display_qty":0.01,"post_only":false,"reduce_only":false,"margin":false,"order_status":"new","fee_usd_equiv":0.0,"fee_ccy_pref":"fciq","triggers":{"reference":"last","price":25100.0,"price_type":"static","actual_price":25100.0,"peak_price":26000.0,"last_price":26000.0,"status":"untriggered","timestamp":"2023-09-22T10:00:00.000001Z"},"contingent":{"order_type":"take-profit-limit","trigger_price":27000.0,"trigger_price_type":"static","limit_price":27100.0,"limit_price_type":"static"},"stop_price":25100.0,"trigger":"last","triggered_price":0.0,"timestamp":"2023-09-22T10:00:00.000001Z"}],"sequence":1}'
# Unknown fields must be ignored at every level (Kraken adds fields).
BOOK_UPDATE_WITH_UNKNOWN_FIELDS = b'{"channel":"book","type":"update","new_top":{"x":[1,2]},"data":[{"symbol":"ETH/BTC","venue":"intl","bids":[{"price":0.031370,"qty":0.00000000,"orders":3}],"asks":[{"price":0.031340,"qty":12.96065840}],"checksum":1234567890,"timestamp":"2026-01-05T10:00:00.123456789Z","extra":null}]}'
# Channels and methods this version does not know keep their raw bytes.
UNKNOWN_CHANNEL = (
    b'{"channel":"futures_ticker","type":"update","data":[{"symbol":"BTC/USD","mark":1.5}]}'
)
UNKNOWN_METHOD = b'{"method":"get_orders","req_id":9,"result":{"orders":[]},"success":true,"time_in":"2024-05-19T19:40:00.1Z","time_out":"2024-05-19T19:40:00.2Z"}'

# §7.1: the three documented futures error messages.
F_ERROR_JSON = b'{"event":"error","message":"Json Error"}'
F_ERROR_INVALID_FEED = b'{"event":"error","message":"Invalid feed"}'
F_ERROR_INVALID_PRODUCT = b'{"event":"error","message":"Invalid product id"}'
F_PONG = b'{"event":"pong"}'
# §7.3: the second per-product ack observed for two tickers.
F_SUBSCRIBED_TICKER_SOL = b'{"event":"subscribed","feed":"ticker","product_ids":["PF_SOLUSD"]}'
# §7.3: the docs' private ack echoes the credentials (live acks omit them).
F_SUBSCRIBED_OPEN_ORDERS_DOC = b'{"event":"subscribed","feed":"open_orders","api_key":"CMl2SeSn09Tz+2tWuzPiPUjaXEQRGq6qv5UaexXuQ3SnahDQU/gO3aT+","original_challenge":"226aee50-88fc-4618-a42a-34f7709570b2","signed_challenge":"RE0DVOc7vS6pzcEjGWd/WJRRBWb54RkyvV+AZQSRl4+rap8Rlk64diR+Z9DQILm7qxncswMmJyvP/2vgzqqh+g=="}'
F_UNSUBSCRIBED_TICKER = b'{"event":"unsubscribed","feed":"ticker","product_ids":["PI_XBTUSD"]}'
F_SUBSCRIBED_FAILED = b'{"event":"subscribed_failed","feed":"ticker","product_ids":["PI_NOPE"],"message":"Invalid product id"}'
F_UNSUBSCRIBED_FAILED = b'{"event":"unsubscribed_failed","feed":"book","product_ids":["PI_XBTUSD"]}'
# §7.3: the docs' ack typo "subscribed " (trailing space) is not a known event.
F_SUBSCRIBED_TYPO = b'{"event":"subscribed ","feed":"trade","product_ids":["PI_XBTUSD"]}'
# §7.4: options tickers add greeks.
F_TICKER_OPTION = b'{"time":1676393235406,"product_id":"PXBT_USD_20230224_25000_C","feed":"ticker","bid":0.011,"ask":0.013,"bid_size":1.0,"ask_size":2.0,"volume":0.0,"dtm":10,"index":21984.54,"last":0.012,"change":0.0,"suspended":false,"tag":"month","pair":"XBT:USD","openInterest":5.0,"markPrice":0.0123,"maturityTime":1677254400000,"post_only":false,"volumeQuote":0.0,"greeks":{"iv":0.5123,"delta":0.43,"gamma":0.00012,"vega":12.5,"theta":-40.1,"rho":1.2e-3}}'
# §7.5: a fill-driven removal: is_cancel true, reason full_fill, with an order object.
F_OPEN_ORDERS_FULL_FILL = b'{"feed":"open_orders","order":{"instrument":"PF_ETHUSD","time":1765185437003,"last_update_time":1765185437003,"qty":0.001,"filled":0.001,"limit_price":3162.0,"stop_price":0.0,"type":"limit","order_id":"a08aed17-1111-2222-3333-444455556666","cli_ord_id":"b661bad0-aaaa-bbbb-cccc-ddddeeeeffff","direction":0,"reduce_only":false},"is_cancel":true,"reason":"full_fill"}'
F_OPEN_ORDERS_VERBOSE_SNAPSHOT = b'{"feed":"open_orders_verbose_snapshot","account":"0f9c23b8-63e2-40e4-9592-6d5aa57c12ba","orders":[{"instrument":"PI_XBTUSD","time":1567428848005,"last_update_time":1567428848005,"qty":100.0,"filled":0.0,"limit_price":8500.0,"stop_price":0.0,"type":"limit","order_id":"566942c8-a3b5-4184-a451-622b09493129","direction":0,"reduce_only":false}]}'
F_OPEN_ORDERS_VERBOSE = b'{"feed":"open_orders_verbose","order":{"instrument":"PI_XBTUSD","time":1567597581495,"last_update_time":1567597581495,"qty":102.0,"filled":0.0,"limit_price":10601.0,"stop_price":0.0,"type":"limit","order_id":"fa9806c9-cba9-4661-9f31-8c5fd045a95d","direction":1,"reduce_only":false},"is_cancel":true,"reason":"post_order_failed_because_it_would_be_filled"}'
# §7.5: balances and account_log are documented by their keys only.
F_BALANCES_SNAPSHOT = b'{"feed":"balances_snapshot","account":"4a012c31-df95-484a-9473-d51e4a0c4ae7","holding":{"USDT":4997.5012493753,"XBT":0.1285407184,"USD":5000.0},"futures":{"F-ETH:EUR":{"name":"F-ETH:EUR","pair":"ETH/EUR","unit":"EUR","portfolio_value":0.0,"balance":0.0,"maintenance_margin":0.0,"initial_margin":0.0,"available":0.0,"unrealized_funding":0.0,"pnl":0.0}},"flex_futures":{"currencies":{"USDT":{"quantity":4997.5012493753,"value":4997.50124937,"collateral_value":4922.53873063,"available":4997.5012493753,"haircut":0.015,"conversion_spread":0.0}},"balance_value":9998.20,"portfolio_value":9998.20,"collateral_value":9844.0,"initial_margin":0.0,"initial_margin_without_orders":0.0,"maintenance_margin":0.0,"pnl":0.0,"unrealized_funding":0.0,"total_unrealized":0.0,"total_unrealized_as_margin":0.0,"margin_equity":9844.0,"available_margin":9844.0,"isolated":{},"cross":{}},"timestamp":1640995200000,"seq":0}'
F_BALANCES = b'{"feed":"balances","account":"4a012c31-df95-484a-9473-d51e4a0c4ae7","holding":{"USD":4990.25},"futures":{},"flex_futures":{"currencies":{"USD":{"quantity":4990.25,"value":4990.25,"collateral_value":4990.25,"available":4990.25,"haircut":0.0,"conversion_spread":0.0}},"balance_value":9988.45,"portfolio_value":9988.45,"collateral_value":9834.25,"initial_margin":0.0,"initial_margin_without_orders":0.0,"maintenance_margin":0.0,"pnl":0.0,"unrealized_funding":0.0,"total_unrealized":0.0,"total_unrealized_as_margin":0.0,"margin_equity":9834.25,"available_margin":9834.25},"timestamp":1640995260000,"seq":1}'
F_ACCOUNT_LOG_SNAPSHOT = b'{"feed":"account_log_snapshot","logs":[{"id":1690,"date":"2019-07-11T08:00:00.000Z","asset":"bch","info":"funding rate change","booking_uid":"86fdc252-1b6e-40ec-ac1d-c7bd46ddeebf","margin_account":"f-bch:usd","old_balance":0.01215667051,"new_balance":0.01215736653,"old_average_entry_price":0.0,"new_average_entry_price":0.0,"trade_price":0.0,"mark_price":0.0,"realized_pnl":0.0,"fee":0.0,"execution":"","collateral":"bch","funding_rate":-8.7002552653e-08,"realized_funding":6.9602e-07,"conversion_spread_percentage":0.0,"liquidation_fee":0.0}]}'
F_ACCOUNT_LOG = b'{"feed":"account_log","new_entry":{"id":1691,"date":"2019-07-11T08:03:21.000Z","asset":"usd","info":"futures trade","booking_uid":"a1b2c3d4-0000-4000-8000-000000000001","margin_account":"flex","old_balance":5000.0,"new_balance":4999.9,"old_average_entry_price":0.0,"new_average_entry_price":3162.0,"trade_price":3162.0,"mark_price":3161.5,"realized_pnl":0.0,"fee":0.10,"execution":"6a22a3fb-0000-4000-8000-000000000002","collateral":"usd","funding_rate":null,"realized_funding":null,"conversion_spread_percentage":0.0,"liquidation_fee":0.0}}'
F_UNKNOWN_FEED = b'{"feed":"deposits_withdrawals","account":"x","events":[1,2]}'
F_UNKNOWN_EVENT = b'{"event":"ping"}'
F_UNSUBSCRIBE_TICKER = b'{"event":"unsubscribe","feed":"ticker","product_ids":["PI_XBTUSD"]}'


# --------------------------------------------------------------------------------------------
# Helpers: compare a decoded struct with the JSON it came from, value by value


def wire_json(raw: bytes) -> Any:
    """Parse ``raw`` keeping every non-integer number as the exact Decimal of its text."""
    return json.loads(raw, parse_float=Decimal)


_TS_DIGITS = 6


def _expected_datetimes(text: str) -> set[datetime]:
    """The datetimes an RFC3339 text may decode to (sub-microsecond digits rounded either way)."""
    main, _, rest = text.partition(".")
    utc = text.endswith("Z") or main.endswith("Z")
    main = main.removesuffix("Z")
    frac = rest.removesuffix("Z")
    base = datetime.strptime(main, "%Y-%m-%dT%H:%M:%S")
    if utc:
        base = base.replace(tzinfo=UTC)
    if not frac:
        return {base}
    scaled = Decimal(int(frac)).scaleb(_TS_DIGITS - len(frac))
    lo, hi = int(scaled), int(scaled) + (0 if scaled == int(scaled) else 1)
    return {base + timedelta(microseconds=lo), base + timedelta(microseconds=hi)}


class Comparison:
    """Walks a decoded value alongside the parsed wire JSON.

    Attributes:
        errors: Paths where the decoded value differs from the wire value.
        dropped: Paths of wire keys the struct has no field for (ignored unknown fields).
        compared: How many leaf values were compared.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.dropped: list[str] = []
        self.compared = 0

    def walk(self, decoded: Any, wire: Any, path: str = "$") -> None:
        """Compare ``decoded`` with ``wire`` recursively."""
        if isinstance(decoded, msgspec.Struct):
            self._struct(decoded, wire, path)
        elif isinstance(decoded, list):
            if not isinstance(wire, list) or len(wire) != len(decoded):
                self.errors.append(f"{path}: list {decoded!r} vs {wire!r}")
                return
            for i, (d, w) in enumerate(zip(decoded, wire, strict=True)):
                self.walk(d, w, f"{path}[{i}]")
        elif isinstance(decoded, dict):
            if not isinstance(wire, dict) or set(wire) != set(decoded):
                self.errors.append(f"{path}: dict keys {sorted(decoded)} vs {wire!r}")
                return
            for key, value in decoded.items():
                self.walk(value, wire[key], f"{path}.{key}")
        else:
            self.compared += 1
            if not _leaf_equal(decoded, wire):
                self.errors.append(f"{path}: decoded {decoded!r}, wire {wire!r}")

    def _struct(self, decoded: msgspec.Struct, wire: Any, path: str) -> None:
        if not isinstance(wire, dict):
            self.errors.append(f"{path}: struct {type(decoded).__name__} vs {wire!r}")
            return
        by_wire_name = {f.encode_name: f.name for f in msgspec.structs.fields(decoded)}
        config = decoded.__struct_config__
        for key, value in wire.items():
            name = by_wire_name.get(key)
            if name is not None:
                self.walk(getattr(decoded, name), value, f"{path}.{key}")
            elif key == config.tag_field:
                self.compared += 1
                if value != config.tag:
                    self.errors.append(f"{path}.{key}: tag {config.tag!r} vs {value!r}")
            elif key in type(decoded).__dict__ and not callable(getattr(type(decoded), key)):
                # A ClassVar such as ``channel`` on Spot data messages.
                self.compared += 1
                if getattr(type(decoded), key) != value:
                    self.errors.append(f"{path}.{key}: class value vs {value!r}")
            else:
                self.dropped.append(f"{path}.{key}")


def _leaf_equal(decoded: Any, wire: Any) -> bool:
    if decoded is None or isinstance(decoded, bool):
        return decoded is wire
    if isinstance(decoded, Decimal):
        if isinstance(wire, bool) or not isinstance(wire, Decimal | int):
            return False
        # Same text: trailing zeros and exponents must survive (0.10000000, 1e-08).
        return str(decoded) == str(Decimal(wire))
    if isinstance(decoded, int):
        return type(wire) is int and decoded == wire
    if isinstance(decoded, datetime):
        return isinstance(wire, str) and decoded in _expected_datetimes(wire)
    if isinstance(decoded, str):
        return isinstance(wire, str) and decoded == wire
    return False


def compare(decoded: Any, raw: bytes) -> Comparison:
    """Compare ``decoded`` with the message ``raw`` it was decoded from."""
    comparison = Comparison()
    comparison.walk(decoded, wire_json(raw))
    return comparison
